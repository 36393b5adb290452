-- One row per email send, open or click on or before the as-of day.
with source as (
    select * from {{ source('silver', 'email_events') }}
),

final as (
    select
        event_id,
        event_ts,
        to_date(event_ts) as event_date,
        event_type,
        email,
        campaign_id
    from source
    where {{ up_to_as_of('event_ts') }}
)

select * from final
