-- One row per sku in the catalog: attributes, price band within its category, popularity
-- (views, add-to-carts, purchases, buyers) over the 7 / 30 / 90 days up to the `as_of` day, and
-- returns: of the units bought in the last 90 days, how many have come back by the day.
{%- set edges = var('price_band_edges') %}
with products as (
    select * from {{ ref('stg_silver__products') }}
),

-- Product counts need no customer: the clickstream as silver holds it, anonymous cookies too.
web as (
    select * from {{ ref('stg_silver__web_events') }} where sku is not null
),

-- On an incremental day the intermediate tables hold the touched customers only: every line of
-- the 90 days here (no count below looks further back).
lines as (
    {%- if incremental_day() %}
    select * from ({{ purchase_lines_sql(ref('stg_silver__identity_map')) }}) as recent
    where {{ within_days('purchase_date', 90) }}
    {%- else %}
    select * from {{ ref('int_purchase_lines') }}
    {%- endif %}
),

returns as (
    {%- if incremental_day() %}
    {{ returns_sql('lines') }}
    {%- else %}
    select * from {{ ref('int_returns') }}
    {%- endif %}
),

web_stats as (
    select
        sku,
        {%- for days in [7, 30, 90] %}
        count_if(event_type = 'view' and {{ within_days('event_date', days) }}) as views_{{ days }}d,
        count_if(event_type = 'add_to_cart' and {{ within_days('event_date', days) }}) as add_to_carts_{{ days }}d{{ "," if not loop.last }}
        {%- endfor %}
    from web
    group by sku
),

purchase_stats as (
    select
        sku,
        {%- for days in [7, 30, 90] %}
        count(distinct case when {{ within_days('purchase_date', days) }} then purchase_id end) as purchases_{{ days }}d,
        coalesce(sum(case when {{ within_days('purchase_date', days) }} then quantity end), 0) as units_sold_{{ days }}d,
        {%- endfor %}
        count(distinct case when {{ within_days('purchase_date', 30) }} then customer_key end) as buyers_30d,
        coalesce(sum(case when {{ within_days('purchase_date', 30) }} then net_amount end), 0) as revenue_30d
    from lines
    group by sku
),

-- By purchase date, like units_sold_90d: a return counts with the purchase it undoes.
return_stats as (
    select
        sku,
        sum(returned_quantity) as units_returned_90d
    from returns
    where {{ within_days('purchase_date', 90) }}
    group by sku
),

priced as (
    select
        *,
        percent_rank() over (partition by category order by price) as price_percentile
    from products
),

joined as (
    select
        p.sku,
        p.product_name,
        p.category,
        p.subcategory,
        p.brand,
        p.price,
        case
            when p.price_percentile < {{ edges[0] }} then 'budget'
            when p.price_percentile < {{ edges[1] }} then 'mid'
            else 'premium'
        end as price_band,
        p.in_stock,
        p.is_active,
        {%- for days in [7, 30, 90] %}
        coalesce(w.views_{{ days }}d, 0) as views_{{ days }}d,
        coalesce(w.add_to_carts_{{ days }}d, 0) as add_to_carts_{{ days }}d,
        coalesce(s.purchases_{{ days }}d, 0) as purchases_{{ days }}d,
        coalesce(s.units_sold_{{ days }}d, 0) as units_sold_{{ days }}d,
        {%- endfor %}
        coalesce(s.buyers_30d, 0) as buyers_30d,
        coalesce(s.revenue_30d, 0) as revenue_30d,
        coalesce(r.units_returned_90d, 0) as units_returned_90d,
        round({{ safe_ratio('coalesce(r.units_returned_90d, 0)', 's.units_sold_90d') }}, 4) as return_rate
    from priced as p
    left join web_stats as w on w.sku = p.sku
    left join purchase_stats as s on s.sku = p.sku
    left join return_stats as r on r.sku = p.sku
),

final as (
    select
        *,
        {{ as_of_date() }} as as_of_date,
        row_number() over (order by purchases_30d desc, views_30d desc, sku) as popularity_rank_30d
    from joined
)

select * from final
