-- The churn model's input as of the day: one row per identified customer_key active on the as-of
-- day (a purchase in the `churn_active_days` up to it), with the features the training examples
-- (customer_churn_examples) carry, computed as of the day. score_customers scores these rows.
with purchases as (
    select * from {{ ref('int_purchases') }} where identified
),

returns as (
    select * from {{ ref('int_returns') }}
),

lines as (
    select * from {{ ref('int_purchase_lines') }}
),

emails as (
    select * from {{ ref('int_email_events') }}
),

web as (
    select * from {{ ref('int_web_events') }}
),

features as (
    {{ churn_features(as_of_date()) }}
),

final as (
    select *, {{ as_of_date() }} as as_of_date from features
)

select * from final
