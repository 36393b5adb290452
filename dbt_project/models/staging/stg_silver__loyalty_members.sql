-- One row per loyalty card (record_key): its version current at the end of the as-of day.
-- Personal data stays in silver; this model keeps the programme's own attributes.
with as_of as (
    {{ scd2_current_as_of(source('silver', 'loyalty_members')) }}
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
)

select * from final
