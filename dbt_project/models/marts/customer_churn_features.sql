-- The churn model's input as of the day: one row per identified customer_key active on the as-of
-- day (a purchase in the `churn_active_days` up to it), with the features the training examples
-- (customer_churn_examples) carry, computed as of the day. score_customers scores these rows.
-- On an incremental day the touched customers are computed and the others carried, their recency and
-- tenure moved on by the days since the last build (a customer leaving the active base is touched).
with {{ churn_feature_inputs() }},

features as (
    {{ churn_features(as_of_date()) }}
),

final as (
    select *, {{ as_of_date() }} as as_of_date from features
)

{{ with_carried('final', {
    'cutoff_date': as_of_date(),
    'as_of_date': as_of_date(),
    'recency_days': 'carried.recency_days + datediff(' ~ as_of_date() ~ ', carried.as_of_date)',
    'tenure_days': 'carried.tenure_days + datediff(' ~ as_of_date() ~ ', carried.as_of_date)'
}) }}
