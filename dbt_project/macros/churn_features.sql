{#- The churn features at `cutoff` (a date expression): one row per customer_key active then (a
    purchase in the `churn_active_days` before it), with its features as of the cutoff (only
    events up to that day); with `role`, `cutoff_role` naming the example set; with `horizon`,
    `churned`: no purchase day in the `horizon` days after the cutoff. The columns are those
    jobs/customers/churn.py reads. -#}
{% macro churn_features(cutoff, role=none, horizon=none) -%}
  select
    s.customer_key,
    {% if role is not none -%}
    '{{ role }}' as cutoff_role,
    {% endif -%}
    {{ cutoff }} as cutoff_date,
    datediff({{ cutoff }}, s.last_purchase_date) as recency_days,
    s.frequency,
    s.recency_days as purchase_span_days,
    s.t_days as tenure_days,
    cast(s.monetary_value as double) as monetary_value,
    coalesce(p.purchases_90d, 0) as purchases_90d,
    coalesce(p.purchases_prev_90d, 0) as purchases_prev_90d,
    cast(coalesce(p.spend_90d, 0) as double) as spend_90d,
    coalesce(least(1.0, {{ safe_ratio('r.refunds_365d', 'p.spend_365d') }}), 0.0) as refund_share,
    coalesce({{ safe_ratio('p.store_purchases_365d', 'p.purchases_365d') }}, 0.0) as store_share,
    coalesce(c.categories_365d, 0) as categories_365d,
    coalesce(e.email_opens_30d, 0) as email_opens_30d,
    coalesce(e.email_opens_prev_30d, 0) as email_opens_prev_30d,
    coalesce(w.web_sessions_30d, 0) as web_sessions_30d,
    coalesce(w.web_sessions_prev_30d, 0) as web_sessions_prev_30d
    {%- if horizon is not none %},
    coalesce(f.future_purchases, 0) = 0 as churned
    {%- endif %}
  from ({{ purchase_summary('purchases', 'returns', cutoff) }}) as s
  left join (
    select
      customer_key,
      count(distinct case when purchase_date > date_sub({{ cutoff }}, 90) then purchase_date end) as purchases_90d,
      count(distinct case when purchase_date <= date_sub({{ cutoff }}, 90)
                           and purchase_date > date_sub({{ cutoff }}, 180) then purchase_date end) as purchases_prev_90d,
      sum(case when purchase_date > date_sub({{ cutoff }}, 90) then net_amount end) as spend_90d,
      sum(case when purchase_date > date_sub({{ cutoff }}, 365) then net_amount end) as spend_365d,
      count(case when purchase_date > date_sub({{ cutoff }}, 365) then purchase_id end) as purchases_365d,
      count(case when purchase_date > date_sub({{ cutoff }}, 365) and channel = 'store' then purchase_id end)
        as store_purchases_365d
    from purchases
    where purchase_date <= {{ cutoff }}
    group by customer_key
  ) as p on p.customer_key = s.customer_key
  left join (
    select customer_key, sum(refund_amount) as refunds_365d
    from returns
    where return_date <= {{ cutoff }} and return_date > date_sub({{ cutoff }}, 365)
    group by customer_key
  ) as r on r.customer_key = s.customer_key
  left join (
    select customer_key, count(distinct category) as categories_365d
    from lines
    where purchase_date <= {{ cutoff }} and purchase_date > date_sub({{ cutoff }}, 365)
    group by customer_key
  ) as c on c.customer_key = s.customer_key
  left join (
    select
      customer_key,
      count(distinct case when event_date > date_sub({{ cutoff }}, 30) then campaign_id end) as email_opens_30d,
      count(distinct case when event_date <= date_sub({{ cutoff }}, 30) then campaign_id end) as email_opens_prev_30d
    from emails
    where event_type = 'open' and event_date <= {{ cutoff }} and event_date > date_sub({{ cutoff }}, 60)
    group by customer_key
  ) as e on e.customer_key = s.customer_key
  left join (
    select
      customer_key,
      count(distinct case when event_date > date_sub({{ cutoff }}, 30) then session_id end) as web_sessions_30d,
      count(distinct case when event_date <= date_sub({{ cutoff }}, 30) then session_id end) as web_sessions_prev_30d
    from web
    where customer_key is not null and event_date <= {{ cutoff }} and event_date > date_sub({{ cutoff }}, 60)
    group by customer_key
  ) as w on w.customer_key = s.customer_key
  {% if horizon is not none -%}
  left join (
    select customer_key, count(distinct purchase_date) as future_purchases
    from purchases
    where purchase_date > {{ cutoff }} and purchase_date <= date_add({{ cutoff }}, {{ horizon }})
    group by customer_key
  ) as f on f.customer_key = s.customer_key
  {%- endif %}
  where datediff({{ cutoff }}, s.last_purchase_date) < {{ var('churn_active_days') }}
{%- endmacro %}


{#- The CTEs `churn_features` reads, for a model's `with`: identified purchases, returns, purchase
    lines, email and web events. -#}
{% macro churn_feature_inputs() -%}
purchases as (
    select * from {{ ref('int_purchases') }} where identified
),

returns as (
    select * from {{ ref('int_returns') }}
),

lines as (
    select * from {{ ref('int_purchase_lines') }}
),

emails as (
    select * from {{ ref('int_email_events') }}
),

web as (
    select * from {{ ref('int_web_events') }}
)
{%- endmacro %}
