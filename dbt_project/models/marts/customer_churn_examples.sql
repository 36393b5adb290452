-- The churn model's examples: the customers active at three cutoffs, with their features as of
-- each. `train` (the as-of day minus twice `churn_horizon_days`) and `test` (minus once) carry
-- the label `churned` (no purchase in the horizon after the cutoff: both horizons end by the
-- as-of day); `score` (the as-of day) has no label yet. jobs/customers/train_churn.py trains on
-- train, judges on test; score_customers scores the score rows.
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

train as (
    {{ churn_features('date_sub(' ~ as_of_date() ~ ', 2 * ' ~ var('churn_horizon_days') ~ ')', 'train',
                      var('churn_horizon_days')) }}
),

test as (
    {{ churn_features('date_sub(' ~ as_of_date() ~ ', ' ~ var('churn_horizon_days') ~ ')', 'test',
                      var('churn_horizon_days')) }}
),

score as (
    {{ churn_features(as_of_date(), 'score') }}
),

final as (
    select *, {{ as_of_date() }} as as_of_date from train
    union all
    select *, {{ as_of_date() }} as as_of_date from test
    union all
    select *, {{ as_of_date() }} as as_of_date from score
)

select * from final
