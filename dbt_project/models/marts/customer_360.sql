-- One row per customer_key known as of the `as_of` day: the pseudonymised golden profile
-- (keyed pseudonyms and coarse attributes only: no raw email, phone, name or street), consent,
-- RFM and the customer features (spend net of refunds, refunds, return rate). Later stages
-- add segments and scores.
with customers as (
    select * from {{ ref('stg_silver__customers') }}
),

features as (
    select * from {{ ref('customer_features') }}
),

rfm as (
    select * from {{ ref('customer_rfm') }}
),

profile as (
    select
        customer_key,
        email_hmac,
        phone_hmac,
        upper(substring_index(postcode, ' ', 1)) as postcode_district,
        city,
        year(date_of_birth) as birth_year,
        profile_records,
        records as source_records,
        array_sort(sources) as sources
    from customers
),

final as (
    select
        f.customer_key,
        f.as_of_date,
        -- An erasure request keeps the key and its aggregates, not even the hashed contacts.
        case when not f.erasure_requested then p.email_hmac end as email_hmac,
        case when not f.erasure_requested then p.phone_hmac end as phone_hmac,
        p.postcode_district,
        p.city,
        p.birth_year,
        floor(months_between(f.as_of_date, make_date(p.birth_year, 7, 1)) / 12) as age_approx,
        p.profile_records > 0 as has_profile,
        p.source_records,
        p.sources,
        f.signup_date,
        f.first_seen_date,
        f.tenure_days,
        f.consent_email_marketing,
        f.consent_sms_marketing,
        f.consent_personalization,
        f.consent_analytics,
        f.erasure_requested,
        r.customer_key is not null as is_active_buyer,
        r.recency_days,
        r.frequency,
        r.monetary,
        r.r_score,
        r.f_score,
        r.m_score,
        r.rfm_score,
        r.rfm_segment,
        f.orders,
        f.orders_online,
        f.orders_store,
        f.net_spend,
        f.spend_before_refunds,
        f.refunds,
        f.units_returned,
        f.return_rate,
        f.avg_order_value,
        f.first_purchase_date,
        f.last_purchase_date,
        f.days_since_last_purchase,
        f.distinct_products,
        f.distinct_categories,
        f.top_category,
        f.category_shares,
        f.discount_share,
        f.channel_mix,
        f.channel_share_web,
        f.channel_share_app,
        f.channel_share_store,
        f.emails_sent_30d,
        f.email_open_rate_30d,
        f.email_click_rate_30d,
        f.emails_sent_90d,
        f.email_open_rate_90d,
        f.email_click_rate_90d,
        f.web_sessions_30d,
        f.product_views_30d,
        f.add_to_carts_30d,
        f.cart_abandonment_rate_30d,
        f.web_sessions_90d,
        f.product_views_90d,
        f.add_to_carts_90d,
        f.cart_abandonment_rate_90d,
        f.last_visit_date,
        f.days_since_last_visit
    from features as f
    inner join profile as p on p.customer_key = f.customer_key
    left join rfm as r on r.customer_key = f.customer_key
)

select * from final
