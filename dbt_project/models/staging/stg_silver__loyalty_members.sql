-- One row per loyalty card (record_key): its version current at the end of the as-of day.
-- Personal data stays in silver; this model keeps the programme's own attributes.
with source as (
    select * from {{ source('silver', 'loyalty_members') }}
),

as_of as (
    select
        *,
        row_number() over (partition by record_key order by valid_from desc) as version_rank
    from source
    where {{ up_to_as_of('valid_from') }}
),

final as (
    select
        record_key,
        source_system,
        tier,
        points_balance,
        joined_at,
        updated_at
    from as_of
    where version_rank = 1
)

select * from final
