-- One row per CRM record (record_key): its version current at the end of the as-of day.
-- Personal data stays in silver: identity resolution and the golden record use it; this
-- model keeps what features may use (gender, country, record dates).
with as_of as (
    {{ scd2_current_as_of(source('silver', 'crm_customers')) }}
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
)

select * from final
