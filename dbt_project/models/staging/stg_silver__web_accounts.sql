-- One row per web shop account (record_key) created on or before the as-of day, latest attributes.
-- Personal data stays in silver; this model keeps the account's dates.
with source as (
    select * from {{ source('silver', 'web_accounts') }}
),

final as (
    select
        record_key,
        source_system,
        created_at,
        updated_at
    from source
    where {{ up_to_as_of('created_at') }}
)

select * from final
