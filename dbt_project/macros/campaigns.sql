{#- The campaigns the read-out knows: one row per campaign of the `campaigns` var, which
    `c360 build-features` fills from the campaign definitions (jobs/common/campaigns.py). -#}
{% macro campaign_settings() -%}
  {%- set campaigns = var('campaigns', []) -%}
  {%- if campaigns | length > 0 -%}
    select
        campaign_id,
        channel,
        to_date(start_date) as start_date,
        to_date(end_date) as end_date,
        cast(attribution_days as int) as attribution_days,
        cast(alpha as double) as alpha,
        cast(min_holdout as bigint) as min_holdout,
        cast(min_treated as bigint) as min_treated
    from values
    {%- for c in campaigns %}
        ('{{ c.id }}', '{{ c.channel }}', '{{ c.start }}', '{{ c.end }}', {{ c.attribution_days }}, {{ c.alpha }},
         {{ 'null' if c.min_holdout is none else c.min_holdout }}, {{ 'null' if c.min_treated is none else c.min_treated }}){{ ',' if not loop.last }}
    {%- endfor %}
        as settings(campaign_id, channel, start_date, end_date, attribution_days, alpha, min_holdout, min_treated)
  {%- else -%}
    select
        cast(null as string) as campaign_id,
        cast(null as string) as channel,
        cast(null as date) as start_date,
        cast(null as date) as end_date,
        cast(null as int) as attribution_days,
        cast(null as double) as alpha,
        cast(null as bigint) as min_holdout,
        cast(null as bigint) as min_treated
    where false
  {%- endif -%}
{%- endmacro %}

{#- A Poisson(1) draw from a 64-bit hash: how many times the bootstrap replicate resamples a
    row. Its 53 low bits read as a uniform share, then the inverse of Poisson(1)'s distribution
    function (cumulative probabilities of 0..6; 7 and more is 1 in 12,000). Deterministic, so a
    rerun of a day gives the same interval. -#}
{% macro poisson_weight(hash) -%}
  case
    when (({{ hash }}) & 9007199254740991) / 9007199254740992.0 < 0.36787944 then 0
    when (({{ hash }}) & 9007199254740991) / 9007199254740992.0 < 0.73575888 then 1
    when (({{ hash }}) & 9007199254740991) / 9007199254740992.0 < 0.91969860 then 2
    when (({{ hash }}) & 9007199254740991) / 9007199254740992.0 < 0.98101184 then 3
    when (({{ hash }}) & 9007199254740991) / 9007199254740992.0 < 0.99634015 then 4
    when (({{ hash }}) & 9007199254740991) / 9007199254740992.0 < 0.99940582 then 5
    when (({{ hash }}) & 9007199254740991) / 9007199254740992.0 < 0.99991676 then 6
    else 7
  end
{%- endmacro %}

{#- Two-sided p-value of a standard normal statistic: 2 (1 - Phi(|z|)), with Abramowitz and
    Stegun's 26.2.17 for the tail (absolute error below 7.5e-8). Null for a null z. -#}
{% macro normal_two_sided_p(z) -%}
  (2 * exp(-0.5 * abs({{ z }}) * abs({{ z }})) / sqrt(2 * pi())
     * (1 / (1 + 0.2316419 * abs({{ z }})))
     * (0.319381530 + (1 / (1 + 0.2316419 * abs({{ z }})))
        * (-0.356563782 + (1 / (1 + 0.2316419 * abs({{ z }})))
           * (1.781477937 + (1 / (1 + 0.2316419 * abs({{ z }})))
              * (-1.821255978 + (1 / (1 + 0.2316419 * abs({{ z }}))) * 1.330274429)))))
{%- endmacro %}
