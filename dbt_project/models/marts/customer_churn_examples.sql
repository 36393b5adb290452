-- The churn model's training examples: the customers active at two cutoffs, with their features
-- as of each and the label `churned` (no purchase in the horizon after the cutoff; both horizons
-- end by the as-of day): `train` (the as-of day minus twice `churn_horizon_days`) and `test`
-- (minus once). jobs/customers/train_churn.py trains on train and judges on test. A training
-- mart (tag `training`): built by the weekly build_training_features, not by the daily build.
{{ config(tags=['training']) }}

with {{ churn_feature_inputs() }},

train as (
    {{ churn_features('date_sub(' ~ as_of_date() ~ ', 2 * ' ~ var('churn_horizon_days') ~ ')', 'train',
                      var('churn_horizon_days')) }}
),

test as (
    {{ churn_features('date_sub(' ~ as_of_date() ~ ', ' ~ var('churn_horizon_days') ~ ')', 'test',
                      var('churn_horizon_days')) }}
),

final as (
    select *, {{ as_of_date() }} as as_of_date from train
    union all
    select *, {{ as_of_date() }} as as_of_date from test
)

select * from final
