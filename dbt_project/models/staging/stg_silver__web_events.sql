-- One row per clickstream event on or before the as-of day.
with source as (
    select * from {{ source('silver', 'web_events') }}
),

final as (
    select
        event_id,
        event_ts,
        to_date(event_ts) as event_date,
        event_type,
        cookie_id,
        session_id,
        device,
        sku
    from source
    where {{ up_to_as_of('event_ts') }}
)

select * from final
