{#- The point in time every model is computed for: the `as_of` var, a date. -#}
{% macro as_of_date() -%}
  to_date('{{ var("as_of") }}')
{%- endmacro %}

{#- True for rows whose timestamp falls on or before the as-of day (UTC). -#}
{% macro up_to_as_of(ts_column) -%}
  to_date({{ ts_column }}) <= {{ as_of_date() }}
{%- endmacro %}

{#- True for rows in the `days` days ending on the as-of day. -#}
{% macro within_days(date_column, days) -%}
  {{ date_column }} > date_sub({{ as_of_date() }}, {{ days }})
{%- endmacro %}

{#- Numerator / denominator, null when the denominator is zero or null. -#}
{% macro safe_ratio(numerator, denominator) -%}
  try_divide(cast({{ numerator }} as double), {{ denominator }})
{%- endmacro %}

{#- 1-5 by quintile of `column` over all rows (percent rank, so equal values share a score). -#}
{% macro quintile_score(column) -%}
  cast(least(5, 1 + floor(5 * percent_rank() over (order by {{ column }}))) as int)
{%- endmacro %}

{#- The rows of an SCD2 history (`valid_from` per version) current at the end of the as-of day: one per `key`. -#}
{% macro scd2_current_as_of(relation, key='record_key') -%}
  select *
  from (
    select
      *,
      row_number() over (partition by {{ key }} order by valid_from desc) as version_rank
    from {{ relation }}
    where {{ up_to_as_of('valid_from') }}
  ) as versions
  where version_rank = 1
{%- endmacro %}

{#- The last day the lifetime value models see when judged on a holdout: `clv_holdout_days` before the as-of day. -#}
{% macro calibration_end() -%}
  date_sub({{ as_of_date() }}, {{ var("clv_holdout_days") }})
{%- endmacro %}
