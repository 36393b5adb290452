-- One row per customer_key, sku and day with activity up to the `as_of` day: product views,
-- add-to-carts, purchases (online and in store) and units bought. The recommender weighs and
-- decays these into interactions for any cutoff on or before `as_of` (jobs/recommend).
-- Anonymous clickstream (no customer_key) stays out: it counts in product_features only.
-- On an incremental day the touched customers' rows are computed and the others carried.
with web as (
    select * from {{ ref('int_web_events') }}
    where customer_key is not null and sku is not null and event_type in ('view', 'add_to_cart')
),

lines as (
    select * from {{ ref('int_purchase_lines') }} where sku is not null
),

web_daily as (
    select
        customer_key,
        sku,
        event_date as activity_date,
        count_if(event_type = 'view') as views,
        count_if(event_type = 'add_to_cart') as add_to_carts,
        0 as purchases,
        0 as units
    from web
    group by customer_key, sku, event_date
),

purchase_daily as (
    select
        customer_key,
        sku,
        purchase_date as activity_date,
        0 as views,
        0 as add_to_carts,
        count(distinct purchase_id) as purchases,
        sum(quantity) as units
    from lines
    group by customer_key, sku, purchase_date
),

combined as (
    select * from web_daily
    union all
    select * from purchase_daily
),

final as (
    select
        customer_key,
        sku,
        activity_date,
        cast(sum(views) as int) as views,
        cast(sum(add_to_carts) as int) as add_to_carts,
        cast(sum(purchases) as int) as purchases,
        cast(sum(units) as int) as units,
        {{ as_of_date() }} as as_of_date
    from combined
    group by customer_key, sku, activity_date
)

{{ with_carried('final', {
    'as_of_date': as_of_date()
}) }}
