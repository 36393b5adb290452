-- One row per sku: the catalog's latest attributes (the catalog keeps no history).
with source as (
    select * from {{ source('silver', 'products') }}
),

final as (
    select
        sku,
        product_name,
        category,
        subcategory,
        brand,
        cast(price as decimal(12, 2)) as price,
        coalesce(in_stock, false) as in_stock,
        coalesce(active, false) as is_active,
        launched_at
    from source
)

select * from final
