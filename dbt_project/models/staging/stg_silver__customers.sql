-- One row per customer_key: the golden record (raw PII; gold carries pseudonyms only).
with source as (
    select * from {{ source('silver', 'customers') }}
),

final as (
    select
        customer_key,
        first_name,
        last_name,
        date_of_birth,
        email,
        phone,
        email_hmac,
        phone_hmac,
        city,
        postcode,
        signup_at,
        profile_records,
        records,
        sources,
        key_created_ds
    from source
)

select * from final
