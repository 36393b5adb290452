-- One row per campaign per as-of day: the campaign's read-out, treated against holdout.
-- Grows by day (appended; a rebuild of a day first deletes that day's rows).
--
-- Who counts: every customer assigned to the campaign before the day (serving.campaign_audiences,
-- first assignment over all its run days: a customer the rule stops selecting stays counted,
-- intent to treat). Outcomes are read once a customer's attribution window has closed
-- (`measured`: assigned at least `attribution_days` before the day), so every figure compares
-- whole windows. A conversion is a purchase in the window after assignment (the days after
-- assigned_at up to assigned_at + attribution_days); revenue is what those purchases paid.
-- Conversion: two-proportion z-test (pooled), 95 % interval of the difference (unpooled), the
-- relative uplift's interval on the log of the ratio. Revenue per customer: a Poisson bootstrap
-- (var campaign_bootstrap_replicates, deterministic hashes) for the interval of the difference.
-- A campaign gets rows from the day after its start until its last window has closed.
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{% if is_incremental() %}delete from {{ this }} where as_of_date = {{ as_of_date() }}{% endif %}"
    )
}}

{%- set audiences_source = source('serving', 'campaign_audiences') %}

with settings as (
    {{ campaign_settings() }}
),

audiences as (
    {% if var('campaign_audiences_built', false) -%}
    select * from {{ audiences_source }}
    {%- else -%}
    -- No audience was ever built: the table does not exist yet.
    select
        cast(null as string) as campaign_id,
        cast(null as string) as customer_key,
        cast(null as string) as variant,
        cast(null as date) as assigned_at,
        cast(null as date) as run_date
    where false
    {%- endif %}
),

-- On an incremental day the event tables hold the touched customers' events, every audience
-- member among them (int_touched_customers): no one else's are read below.
purchases as (
    select * from {{ ref('int_purchases') }}
),

email_events as (
    select * from {{ ref('int_email_events') }}
),

reported as (
    select *
    from settings
    where {{ as_of_date() }} > start_date
        and {{ as_of_date() }} <= date_add(end_date, attribution_days)
),

assigned as (
    select
        a.campaign_id,
        a.customer_key,
        min(a.variant) as variant,
        min(a.assigned_at) as assigned_at
    from audiences as a
    inner join reported as r on r.campaign_id = a.campaign_id
    where a.run_date <= {{ as_of_date() }}
        and a.assigned_at < {{ as_of_date() }}
    group by a.campaign_id, a.customer_key
),

cohort as (
    select
        a.*,
        date_add(a.assigned_at, r.attribution_days) as window_end,
        date_add(a.assigned_at, r.attribution_days) <= {{ as_of_date() }} as measured
    from assigned as a
    inner join reported as r on r.campaign_id = a.campaign_id
),

window_purchases as (
    select
        c.campaign_id,
        c.customer_key,
        count(*) as purchases,
        sum(cast(p.net_amount as double)) as revenue
    from cohort as c
    inner join purchases as p
        on p.customer_key = c.customer_key
        and p.purchase_date > c.assigned_at
        and p.purchase_date <= c.window_end
    where c.measured
    group by c.campaign_id, c.customer_key
),

outcomes as (
    select
        c.campaign_id,
        c.customer_key,
        c.variant,
        c.assigned_at,
        c.measured,
        coalesce(w.purchases, 0) > 0 as converted,
        coalesce(w.revenue, 0.0) as revenue
    from cohort as c
    left join window_purchases as w
        on w.campaign_id = c.campaign_id and w.customer_key = c.customer_key
),

engagement as (
    select
        c.campaign_id,
        count(distinct case when e.event_type = 'send' then c.customer_key end) as treated_sent,
        count(distinct case when e.event_type = 'open' then c.customer_key end) as treated_opened,
        count(distinct case when e.event_type = 'click' then c.customer_key end) as treated_clicked
    from cohort as c
    inner join email_events as e
        on e.customer_key = c.customer_key
        and e.campaign_id = c.campaign_id
        and e.event_date <= {{ as_of_date() }}
    where c.variant = 'treatment'
    group by c.campaign_id
),

arms as (
    select
        campaign_id,
        min(assigned_at) as first_assigned_at,
        max(assigned_at) as last_assigned_at,
        count(*) as audience_size,
        count_if(variant = 'holdout') as holdout_size,
        count_if(variant = 'treatment') as treated_size,
        count_if(measured and variant = 'holdout') as holdout_measured,
        count_if(measured and variant = 'treatment') as treated_measured,
        count_if(measured and variant = 'holdout' and converted) as holdout_conversions,
        count_if(measured and variant = 'treatment' and converted) as treated_conversions,
        sum(case when measured and variant = 'holdout' then revenue end) as holdout_revenue,
        sum(case when measured and variant = 'treatment' then revenue end) as treated_revenue
    from outcomes
    group by campaign_id
),

replicates as (
    select explode(sequence(1, {{ var('campaign_bootstrap_replicates') }})) as replicate
),

weighted as (
    select
        o.campaign_id,
        r.replicate,
        o.variant,
        o.revenue,
        {{ poisson_weight("xxhash64(o.campaign_id, o.customer_key, r.replicate)") }} as weight
    from outcomes as o
    cross join replicates as r
    where o.measured
),

resampled as (
    select
        campaign_id,
        replicate,
        sum(case when variant = 'holdout' then weight end) as holdout_weight,
        sum(case when variant = 'holdout' then weight * revenue end) as holdout_revenue,
        sum(case when variant = 'treatment' then weight end) as treated_weight,
        sum(case when variant = 'treatment' then weight * revenue end) as treated_revenue
    from weighted
    group by campaign_id, replicate
),

bootstrap as (
    select
        campaign_id,
        count(*) as bootstrap_replicates,
        percentile(treated_revenue / treated_weight - holdout_revenue / holdout_weight, 0.025) as revenue_uplift_ci_low,
        percentile(treated_revenue / treated_weight - holdout_revenue / holdout_weight, 0.975) as revenue_uplift_ci_high
    from resampled
    where holdout_weight > 0 and treated_weight > 0
    group by campaign_id
),

rates as (
    select
        r.campaign_id,
        r.channel,
        r.attribution_days,
        r.alpha,
        r.min_holdout,
        r.min_treated,
        a.first_assigned_at,
        a.last_assigned_at,
        coalesce(a.audience_size, 0) as audience_size,
        coalesce(a.holdout_size, 0) as holdout_size,
        coalesce(a.treated_size, 0) as treated_size,
        coalesce(a.holdout_measured, 0) as holdout_measured,
        coalesce(a.treated_measured, 0) as treated_measured,
        coalesce(a.holdout_conversions, 0) as holdout_conversions,
        coalesce(a.treated_conversions, 0) as treated_conversions,
        {{ safe_ratio('a.holdout_conversions', 'a.holdout_measured') }} as p0,
        {{ safe_ratio('a.treated_conversions', 'a.treated_measured') }} as p1,
        {{ safe_ratio('a.holdout_conversions + a.treated_conversions', 'a.holdout_measured + a.treated_measured') }}
            as pooled,
        {{ safe_ratio('a.holdout_revenue', 'a.holdout_measured') }} as holdout_revenue_per_customer,
        {{ safe_ratio('a.treated_revenue', 'a.treated_measured') }} as treated_revenue_per_customer,
        coalesce(e.treated_sent, 0) as treated_sent,
        coalesce(e.treated_opened, 0) as treated_opened,
        coalesce(e.treated_clicked, 0) as treated_clicked,
        b.bootstrap_replicates,
        b.revenue_uplift_ci_low,
        b.revenue_uplift_ci_high
    from reported as r
    left join arms as a on a.campaign_id = r.campaign_id
    left join engagement as e on e.campaign_id = r.campaign_id
    left join bootstrap as b on b.campaign_id = r.campaign_id
),

tests as (
    select
        *,
        p1 - p0 as uplift,
        sqrt(try_divide(p0 * (1 - p0), holdout_measured) + try_divide(p1 * (1 - p1), treated_measured)) as se,
        case when pooled > 0 and pooled < 1 then
            try_divide(p1 - p0, sqrt(pooled * (1 - pooled)
                * (try_divide(1.0D, holdout_measured) + try_divide(1.0D, treated_measured))))
        end as z_score,
        -- the standard error of log(p1 / p0), for the relative uplift's interval
        case when p0 > 0 and p1 > 0 then
            sqrt(try_divide(1 - p1, treated_measured * p1) + try_divide(1 - p0, holdout_measured * p0))
        end as log_ratio_se
    from rates
),

final as (
    select
        campaign_id,
        {{ as_of_date() }} as as_of_date,
        channel,
        attribution_days,
        first_assigned_at,
        last_assigned_at,
        audience_size,
        holdout_size,
        treated_size,
        holdout_measured,
        treated_measured,
        holdout_conversions,
        treated_conversions,
        round(p0, 6) as holdout_conversion_rate,
        round(p1, 6) as treated_conversion_rate,
        round(uplift, 6) as uplift,
        round(uplift - 1.959963985 * se, 6) as uplift_ci_low,
        round(uplift + 1.959963985 * se, 6) as uplift_ci_high,
        round(try_divide(p1, p0) - 1, 6) as relative_uplift,
        round(exp(ln(try_divide(p1, p0)) - 1.959963985 * log_ratio_se) - 1, 6) as relative_uplift_ci_low,
        round(exp(ln(try_divide(p1, p0)) + 1.959963985 * log_ratio_se) - 1, 6) as relative_uplift_ci_high,
        round(z_score, 6) as z_score,
        round({{ normal_two_sided_p('z_score') }}, 6) as p_value,
        coalesce({{ normal_two_sided_p('z_score') }} < alpha, false) as significant,
        alpha,
        round(holdout_revenue_per_customer, 4) as holdout_revenue_per_customer,
        round(treated_revenue_per_customer, 4) as treated_revenue_per_customer,
        round(treated_revenue_per_customer - holdout_revenue_per_customer, 4) as revenue_uplift,
        round(revenue_uplift_ci_low, 4) as revenue_uplift_ci_low,
        round(revenue_uplift_ci_high, 4) as revenue_uplift_ci_high,
        coalesce(bootstrap_replicates, 0) as bootstrap_replicates,
        treated_sent,
        treated_opened,
        treated_clicked,
        round({{ safe_ratio('treated_opened', 'treated_sent') }}, 6) as open_rate,
        round({{ safe_ratio('treated_clicked', 'treated_sent') }}, 6) as click_rate,
        min_holdout,
        min_treated,
        case when min_holdout is not null
            then holdout_measured >= min_holdout and treated_measured >= min_treated
        end as minimum_sample_reached
    from tests
)

select * from final
