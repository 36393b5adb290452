-- One row per CRM record (record_key): its version current at the end of the as-of day.
-- Personal data stays in silver: identity resolution and the golden record use it; this
-- model keeps what features may use (gender, country, record dates).
with source as (
    select * from {{ source('silver', 'crm_customers') }}
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
        gender,
        country,
        created_at,
        updated_at
    from as_of
    where version_rank = 1
)

select * from final
