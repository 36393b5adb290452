-- The churn model's input as of the day: one row per identified customer_key active on the as-of
-- day (a purchase in the `churn_active_days` up to it), with the features the training examples
-- (customer_churn_examples) carry, computed as of the day. score_customers scores these rows.
with {{ churn_feature_inputs() }},

features as (
    {{ churn_features(as_of_date()) }}
),

final as (
    select *, {{ as_of_date() }} as as_of_date from features
)

select * from final
