-- One row per customer_key that exists as of the day: first seen (signup or first activity,
-- else the day identity resolution created the key), so later customers stay out of past builds.
-- On an incremental day, the touched customers only.
with customers as (
    select * from {{ ref('stg_silver__customers') }}
    {%- if incremental_day() %}
    where customer_key in (select customer_key from {{ ref('int_touched_customers') }})
    {%- endif %}
),

purchases as (
    select customer_key, min(purchase_date) as first_date from {{ ref('int_purchases') }} group by customer_key
),

visits as (
    select customer_key, min(event_date) as first_date
    from {{ ref('int_web_events') }}
    where customer_key is not null
    group by customer_key
),

emails as (
    select customer_key, min(event_date) as first_date from {{ ref('int_email_events') }} group by customer_key
),

seen as (
    select
        c.customer_key,
        to_date(c.signup_at) as signup_date,
        least(to_date(c.signup_at), p.first_date, v.first_date, e.first_date) as first_seen_date,
        c.key_created_ds
    from customers as c
    left join purchases as p on p.customer_key = c.customer_key
    left join visits as v on v.customer_key = c.customer_key
    left join emails as e on e.customer_key = c.customer_key
),

final as (
    select customer_key, signup_date, first_seen_date
    from seen
    where coalesce(first_seen_date, key_created_ds) <= {{ as_of_date() }}
)

select * from final
