-- One row per customer_key with a consent event: the latest decision per purpose as of the day
-- (the rule every consumer of consent reads: recommendations, scores, audiences). A decision for
-- purpose 'all' counts for each purpose; an erasure request withdraws every purpose.
with events as (
    select * from {{ ref('stg_silver__consent_events') }}
),

-- Consent names a profile record by its id, or an address by its email match key.
identity_map as (
    select distinct
        m.record_source,
        {{ consent_subject_key('m') }} as subject_key,
        m.customer_key
    from {{ day_identity_map() }} as m
),

keyed as (
    select m.customer_key, e.event_ts, e.event_id, e.purpose, e.action
    from events as e
    inner join identity_map as m
        on m.record_source = e.subject_source and m.subject_key = e.subject_key
),

-- A decision for purpose 'all' is a decision for each purpose, at its time.
per_purpose as (
    select
        customer_key,
        event_ts,
        event_id,
        explode(
            case when purpose = 'all' then array({{ "'" ~ consent_purposes() | join("', '") ~ "'" }})
            else array(purpose) end
        ) as purpose,
        action
    from keyed
),

decisions as (
    select
        customer_key,
        purpose,
        action,
        row_number() over (partition by customer_key, purpose order by event_ts desc, event_id desc) as recency
    from per_purpose
),

latest as (
    select * from decisions where recency = 1
),

erasure as (
    select customer_key, true as erasure_requested
    from latest
    where action = 'erasure_request'
    group by customer_key
),

final as (
    select
        l.customer_key,
        coalesce(e.erasure_requested, false) as erasure_requested,
        {%- for purpose in consent_purposes() %}
        coalesce(max(case when l.purpose = '{{ purpose }}' then l.action = 'opt_in' end), false)
            and not coalesce(e.erasure_requested, false) as consent_{{ purpose }}{{ "," if not loop.last }}
        {%- endfor %}
    from latest as l
    left join erasure as e on e.customer_key = l.customer_key
    group by l.customer_key, e.erasure_requested
)

select * from final
