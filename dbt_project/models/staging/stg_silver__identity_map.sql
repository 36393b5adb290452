-- One row per source record and its customer_key (the latest identity resolution).
with source as (
    select * from {{ source('silver', 'identity_map') }}
),

final as (
    select
        source as record_source,
        record_key,
        email_match_key,
        customer_key,
        matched_by
    from source
)

select * from final
