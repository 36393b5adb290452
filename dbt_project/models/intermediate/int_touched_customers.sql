-- One row per customer_key whose customer-level rows may differ from the last build's (an
-- incremental day, `since` -> `as_of`); empty on a full build. A customer is touched when:
--   * one of its source records was mapped to another key, left the map or joined it (identity
--     resolution since the last build: silver.identity_map against its version then), on either key;
--   * its golden record's signup or creation changed, or falls in the days built (silver.customers);
--   * one of its records has an event landed since the last build (`_ds` after `since`), or dated
--     in the days built, or on the day a feature window's edge passed (`moved_since`): orders and
--     their lines, till receipts, returns (the purchase's customer), clickstream, email, consent;
--   * it bought a product whose category or brand changed (silver.products against its version then);
--   * it is in a campaign audience (serving.campaign_audiences): the read-out reads its events.
-- Silver rewritten under a landing day on or before `since` makes the build a full one instead
-- (jobs/features/incremental.py), so rows gone from silver are found through the identity map only.
{% if incremental_day() %}
with identity_now as (
    select record_source, record_key, email_match_key, customer_key from {{ ref('stg_silver__identity_map') }}
),

identity_then as (
    {%- if 'identity_map' in var('silver_versions', {}) %}
    select source as record_source, record_key, email_match_key, customer_key from {{ silver_then('identity_map') }}
    {%- else %}
    select record_source, record_key, email_match_key, customer_key from identity_now where false
    {%- endif %}
),

remapped as (
    select n.customer_key as now_key, t.customer_key as then_key
    from identity_now as n
    full outer join identity_then as t on t.record_source = n.record_source and t.record_key = n.record_key
    where not (n.customer_key <=> t.customer_key and n.email_match_key <=> t.email_match_key)
),

golden as (
    select customer_key, signup_at, key_created_ds from {{ source('silver', 'customers') }}
),

golden_changed as (
    select customer_key
    from golden
    where to_date(signup_at) > to_date('{{ var("since") }}') and to_date(signup_at) <= {{ as_of_date() }}
        or key_created_ds > to_date('{{ var("since") }}') and key_created_ds <= {{ as_of_date() }}
    union all
    select customer_key from (
        select * from golden
        except
        {%- if 'customers' in var('silver_versions', {}) %}
        select customer_key, signup_at, key_created_ds from {{ silver_then('customers') }}
        {%- else %}
        select * from golden where false
        {%- endif %}
    ) as changed
),

products_changed as (
    select sku from (
        select sku, category, brand from {{ source('silver', 'products') }}
        except
        {%- if 'products' in var('silver_versions', {}) %}
        select sku, category, brand from {{ silver_then('products') }}
        {%- else %}
        select sku, category, brand from {{ source('silver', 'products') }} where false
        {%- endif %}
    ) as now_differs
    union
    select sku from (
        {%- if 'products' in var('silver_versions', {}) %}
        select sku, category, brand from {{ silver_then('products') }}
        except
        {%- else %}
        select sku, category, brand from {{ source('silver', 'products') }} where false
        except
        {%- endif %}
        select sku, category, brand from {{ source('silver', 'products') }}
    ) as then_differs
),

-- Source records with an event that enters the build or changes a window, as identity_map names them.
records as (
    select 'orders' as record_source, order_id as record_key
    from {{ source('silver', 'orders') }}
    where {{ new_or_moved('to_date(order_ts)') }}
    union all
    select 'orders', order_id
    from {{ source('silver', 'order_lines') }}
    where _ds > to_date('{{ var("since") }}') or sku in (select sku from products_changed)
    union all
    select 'pos_transactions', transaction_id
    from {{ source('silver', 'pos_transactions') }}
    where {{ new_or_moved('to_date(transaction_ts)') }} or sku in (select sku from products_changed)
    {%- if silver_landed('returns') %}
    union all
    select case channel when 'online' then 'orders' else 'pos_transactions' end, coalesce(order_id, transaction_id)
    from {{ source('silver', 'returns') }}
    where {{ new_or_moved('to_date(returned_at)') }}
    {%- endif %}
    union all
    select 'web_events', cookie_id
    from {{ source('silver', 'web_events') }}
    where {{ new_or_moved('to_date(event_ts)') }}
    union all
    select 'email_events', email
    from {{ source('silver', 'email_events') }}
    where {{ new_or_moved('to_date(event_ts)') }}
),

-- Consent events that enter the build or change a window, with the subject as identity_map names it.
consent_subjects as (
    select subject_source, subject_key
    from {{ ref('stg_silver__consent_events') }}
    where {{ new_or_moved('to_date(event_ts)') }}
),

touched as (
    select now_key as customer_key from remapped
    union all
    select then_key from remapped
    union all
    select customer_key from golden_changed
    union all
    select m.customer_key
    from identity_now as m
    left semi join records as r on r.record_source = m.record_source and r.record_key = m.record_key
    union all
    select m.customer_key
    from identity_now as m
    left semi join consent_subjects as s
        on s.subject_source = m.record_source
        and s.subject_key = {{ consent_subject_key('m') }}
    {%- if var('campaign_audiences_built', false) %}
    union all
    select customer_key from {{ source('serving', 'campaign_audiences') }}
    {%- endif %}
)

select distinct customer_key from touched where customer_key is not null
{% else %}
select cast(null as string) as customer_key where false
{% endif %}
