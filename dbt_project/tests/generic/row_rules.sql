{#-
  A model's row rules, checked in one query and one scan of the model, not one per rule: fails with a
  row per rule that some rows break, naming the rule and how many rows (or surplus duplicates) break it.
  dbt reports the sum of those counts.

  Rules, each optional:
    unique:          columns whose non-null values occur at most once (dbt's `unique`), or lists of
                     columns whose combinations occur at most once (nulls count as a value);
    not_null:        columns that hold no null;
    accepted_values: column -> the values it may hold (a null passes: `not_null` says whether it may be
                     null); numbers are compared as numbers, strings as strings;
    expressions:     SQL conditions every row meets (a null result breaks the rule).
-#}
{% test row_rules(model, unique=[], not_null=[], accepted_values={}, expressions=[], column_name=none) %}
{{ config(fail_calc="coalesce(sum(failures), 0)") }}
{%- set rules = [] -%}
{%- for key in unique -%}
  {%- if key is string -%}
    {%- do rules.append(("unique(" ~ key ~ ")", "count(" ~ key ~ ") - count(distinct " ~ key ~ ")")) -%}
  {%- else -%}
    {%- do rules.append(("unique(" ~ key | join(", ") ~ ")",
                         "count(*) - count(distinct struct(" ~ key | join(", ") ~ "))")) -%}
  {%- endif -%}
{%- endfor -%}
{%- for column in not_null -%}
  {%- do rules.append(("not_null(" ~ column ~ ")", "count_if(" ~ column ~ " is null)")) -%}
{%- endfor -%}
{%- for column, values in accepted_values.items() -%}
  {%- set literals = [] -%}
  {%- for value in values -%}
    {%- if value is string -%}
      {%- do literals.append("'" ~ value | replace("\\", "\\\\") | replace("'", "\\'") ~ "'") -%}
    {%- else -%}
      {%- do literals.append(value | string) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- do rules.append(("accepted_values(" ~ column ~ ")",
                       "count_if(" ~ column ~ " is not null and " ~ column ~ " not in (" ~ literals | join(", ") ~ "))")) -%}
{%- endfor -%}
{%- for expression in expressions -%}
  {%- do rules.append(("expression(" ~ expression ~ ")", "count_if(not coalesce(" ~ expression ~ ", false))")) -%}
{%- endfor -%}
{%- if not rules -%}
  {{ exceptions.raise_compiler_error("row_rules on " ~ model ~ " names no rule: give unique, not_null, accepted_values or expressions") }}
{%- endif -%}
with counts as (
    select
    {%- for name, count in rules %}
        cast({{ count }} as bigint) as rule_{{ loop.index }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
),

broken as (
    select stack({{ rules | length }},
    {%- for name, count in rules %}
        '{{ name | replace("\\", "\\\\") | replace("'", "\\'") }}', rule_{{ loop.index }}{{ "," if not loop.last }}
    {%- endfor %}
    ) as (rule, failures)
    from counts
)

select rule, failures
from broken
where failures > 0
{% endtest %}
