-- One row per customer_key known as of the `as_of` day: purchase, return, product, email, web
-- and channel features over the customer's history and the last 30 / 90 days, and consent flags.
-- `net_spend` is after discounts and after the refunds booked up to the day; `return_rate` is
-- the units returned of the units bought (both over the customer's purchases up to the day).
-- On an incremental day the touched customers are computed and the others carried from the table,
-- their day counts (tenure, days since the last purchase and visit) counted again to the day.
with customers as (
    select * from {{ ref('int_customer_activity') }}
),

purchases as (
    select * from {{ ref('int_purchases') }}
),

lines as (
    select * from {{ ref('int_purchase_lines') }}
),

returns as (
    select * from {{ ref('int_returns') }}
),

web as (
    select * from {{ ref('int_web_events') }} where customer_key is not null
),

email as (
    select * from {{ ref('int_email_events') }}
),

consent as (
    select * from {{ ref('int_customer_consent') }}
),

purchase_stats as (
    select
        customer_key,
        count(*) as orders,
        sum(units) as units_bought,
        count_if(channel <> 'store') as orders_online,
        count_if(channel = 'store') as orders_store,
        count_if(channel = 'web') as orders_web,
        count_if(channel = 'app') as orders_app,
        sum(net_amount) as net_spend,
        sum(gross_amount) as gross_spend,
        sum(discount_amount) as discount_amount,
        count_if(discount_amount > 0) as discounted_orders,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date,
        bool_or(identified) as identified
    from purchases
    group by customer_key
),

return_stats as (
    select
        customer_key,
        sum(returned_quantity) as units_returned,
        sum(refund_amount) as refunds
    from returns
    group by customer_key
),

product_stats as (
    select
        customer_key,
        count(distinct sku) as distinct_products,
        count(distinct category) as distinct_categories
    from lines
    group by customer_key
),

category_spend as (
    select
        customer_key,
        category,
        sum(net_amount) as spend
    from lines
    where category is not null
    group by customer_key, category
),

category_shares as (
    select
        customer_key,
        max_by(category, struct(spend, category)) as top_category,
        map_from_entries(collect_list(struct(category, round(share, 4)))) as category_shares
    from (
        select *, {{ safe_ratio('spend', 'sum(spend) over (partition by customer_key)') }} as share
        from category_spend
    ) as shares
    group by customer_key
),

email_stats as (
    select
        customer_key,
        {%- for days in [30, 90] %}
        count(distinct case when event_type = 'send' and {{ within_days('event_date', days) }} then campaign_id end) as emails_sent_{{ days }}d,
        count(distinct case when event_type = 'open' and {{ within_days('event_date', days) }} then campaign_id end) as emails_opened_{{ days }}d,
        count(distinct case when event_type = 'click' and {{ within_days('event_date', days) }} then campaign_id end) as emails_clicked_{{ days }}d{{ "," if not loop.last }}
        {%- endfor %}
    from email
    group by customer_key
),

sessions as (
    select
        customer_key,
        session_id,
        min(event_date) as session_date,
        count_if(event_type = 'view') as views,
        count_if(event_type = 'add_to_cart') as add_to_carts,
        count_if(event_type = 'purchase') as purchase_events
    from web
    group by customer_key, session_id
),

web_stats as (
    select
        customer_key,
        max(session_date) as last_visit_date,
        {%- for days in [30, 90] %}
        count_if({{ within_days('session_date', days) }}) as web_sessions_{{ days }}d,
        coalesce(sum(case when {{ within_days('session_date', days) }} then views end), 0) as product_views_{{ days }}d,
        coalesce(sum(case when {{ within_days('session_date', days) }} then add_to_carts end), 0) as add_to_carts_{{ days }}d,
        count_if({{ within_days('session_date', days) }} and add_to_carts > 0) as cart_sessions_{{ days }}d,
        count_if({{ within_days('session_date', days) }} and add_to_carts > 0 and purchase_events = 0) as abandoned_cart_sessions_{{ days }}d{{ "," if not loop.last }}
        {%- endfor %}
    from sessions
    group by customer_key
),

final as (
    select
        c.customer_key,
        {{ as_of_date() }} as as_of_date,
        c.signup_date,
        c.first_seen_date,
        coalesce(p.identified, true) as identified,
        datediff({{ as_of_date() }}, c.first_seen_date) as tenure_days,
        coalesce(p.orders, 0) as orders,
        coalesce(p.orders_online, 0) as orders_online,
        coalesce(p.orders_store, 0) as orders_store,
        -- decimal(24, 2): the sum's type, as before refunds were netted.
        cast(coalesce(p.net_spend, 0) - coalesce(rs.refunds, 0) as decimal(24, 2)) as net_spend,
        -- What was ordered: refunds come later and are counted apart.
        cast({{ safe_ratio('p.net_spend', 'p.orders') }} as decimal(14, 2)) as avg_order_value,
        p.first_purchase_date,
        p.last_purchase_date,
        datediff({{ as_of_date() }}, p.last_purchase_date) as days_since_last_purchase,
        coalesce(ps.distinct_products, 0) as distinct_products,
        coalesce(ps.distinct_categories, 0) as distinct_categories,
        cm.top_category,
        cm.category_shares,
        round({{ safe_ratio('p.discount_amount', 'p.gross_spend') }}, 4) as discount_share,
        round({{ safe_ratio('p.discounted_orders', 'p.orders') }}, 4) as discounted_order_share,
        round({{ safe_ratio('p.orders_web', 'p.orders') }}, 4) as channel_share_web,
        round({{ safe_ratio('p.orders_app', 'p.orders') }}, 4) as channel_share_app,
        round({{ safe_ratio('p.orders_store', 'p.orders') }}, 4) as channel_share_store,
        case
            when p.orders is null then 'none'
            when p.orders_store = 0 then 'online_only'
            when p.orders_online = 0 then 'store_only'
            else 'omnichannel'
        end as channel_mix,
        {%- for days in [30, 90] %}
        coalesce(e.emails_sent_{{ days }}d, 0) as emails_sent_{{ days }}d,
        round(least(1.0, {{ safe_ratio('e.emails_opened_' ~ days ~ 'd', 'e.emails_sent_' ~ days ~ 'd') }}), 4) as email_open_rate_{{ days }}d,
        round(least(1.0, {{ safe_ratio('e.emails_clicked_' ~ days ~ 'd', 'e.emails_sent_' ~ days ~ 'd') }}), 4) as email_click_rate_{{ days }}d,
        coalesce(w.web_sessions_{{ days }}d, 0) as web_sessions_{{ days }}d,
        coalesce(w.product_views_{{ days }}d, 0) as product_views_{{ days }}d,
        coalesce(w.add_to_carts_{{ days }}d, 0) as add_to_carts_{{ days }}d,
        round({{ safe_ratio('w.abandoned_cart_sessions_' ~ days ~ 'd', 'w.cart_sessions_' ~ days ~ 'd') }}, 4) as cart_abandonment_rate_{{ days }}d,
        {%- endfor %}
        w.last_visit_date,
        datediff({{ as_of_date() }}, w.last_visit_date) as days_since_last_visit,
        coalesce(k.consent_email_marketing, false) as consent_email_marketing,
        coalesce(k.consent_sms_marketing, false) as consent_sms_marketing,
        coalesce(k.consent_personalization, false) as consent_personalization,
        coalesce(k.consent_analytics, false) as consent_analytics,
        coalesce(k.erasure_requested, false) as erasure_requested,
        coalesce(p.net_spend, 0) as spend_before_refunds,
        coalesce(rs.refunds, 0) as refunds,
        coalesce(p.units_bought, 0) as units_bought,
        coalesce(rs.units_returned, 0) as units_returned,
        round({{ safe_ratio('coalesce(rs.units_returned, 0)', 'p.units_bought') }}, 4) as return_rate
    from customers as c
    left join purchase_stats as p on p.customer_key = c.customer_key
    left join return_stats as rs on rs.customer_key = c.customer_key
    left join product_stats as ps on ps.customer_key = c.customer_key
    left join category_shares as cm on cm.customer_key = c.customer_key
    left join email_stats as e on e.customer_key = c.customer_key
    left join web_stats as w on w.customer_key = c.customer_key
    left join consent as k on k.customer_key = c.customer_key
)

{{ with_carried('final', {
    'as_of_date': as_of_date(),
    'tenure_days': 'datediff(' ~ as_of_date() ~ ', carried.first_seen_date)',
    'days_since_last_purchase': 'datediff(' ~ as_of_date() ~ ', carried.last_purchase_date)',
    'days_since_last_visit': 'datediff(' ~ as_of_date() ~ ', carried.last_visit_date)'
}) }}
