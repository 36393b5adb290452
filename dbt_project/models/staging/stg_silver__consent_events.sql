-- One row per consent event on or before the as-of day; the subject as identity_map names it.
with source as (
    select * from {{ source('silver', 'consent_events') }}
),

final as (
    select
        event_id,
        event_ts,
        case subject_type
            when 'crm_id' then 'crm_customers'
            when 'loyalty_id' then 'loyalty_members'
            when 'account_id' then 'web_accounts'
            when 'email' then 'email_events'
        end as subject_source,
        case when subject_type = 'email' then subject_email_match_key else subject_id end as subject_key,
        purpose,
        action,
        _ds
    from source
    where {{ up_to_as_of('event_ts') }}
)

select * from final
