{#- An incremental day: `c360 build-features` found the customer marts built as of an earlier day
    (`since`) by this same project, on silver that has only grown since (jobs/features/incremental.py).
    Then every customer-level model computes the customers the day touched (int_touched_customers)
    and carries the others' rows from its own table as the last build left them, with the columns
    that count days up to the as-of day recomputed from the dates stored. A full build (the first,
    a backfill, a changed project, silver rewritten under an earlier day) computes everyone. -#}
{% macro incremental_day() -%}
  {{ return(var('incremental', false)) }}
{%- endmacro %}

{#- The identity map the day's event tables are keyed by: every record on a full build; on an
    incremental day, the records of the touched customers only (every record of each, so what is
    computed per customer, like `identified`, sees them all). -#}
{% macro day_identity_map() -%}
  {%- if incremental_day() -%}
  (
    select /*+ BROADCAST(touched) */ m.*
    from {{ ref('stg_silver__identity_map') }} as m
    left semi join {{ ref('int_touched_customers') }} as touched on touched.customer_key = m.customer_key
  )
  {%- else -%}
  {{ ref('stg_silver__identity_map') }}
  {%- endif -%}
{%- endmacro %}

{#- The rows of `relation` (by default this model's table, as the last build left it) of the
    customers the day did not touch, column for column in the table's order; `recomputed` maps
    a column to the expression that replaces it (`carried.<column>` names the stored value).
    Only on an incremental day, where the table exists and was built by this same model. -#}
{% macro carried_rows(recomputed={}, relation=none) -%}
  {%- set relation = this if relation is none else relation -%}
  {%- set columns = adapter.get_columns_in_relation(relation) if execute else [] -%}
  select
    {%- for column in columns %}
    {{ recomputed.get(column.name, 'carried.' ~ adapter.quote(column.name)) }} as {{ adapter.quote(column.name) }}{{ "," if not loop.last }}
    {%- endfor %}
  from {{ relation }} as carried
  left anti join {{ ref('int_touched_customers') }} as touched on touched.customer_key = carried.customer_key
{%- endmacro %}

{#- This model's rows for the build: `fresh` (a CTE of the touched customers' rows, or of every
    customer's on a full build), and on an incremental day the other customers' rows carried. -#}
{% macro with_carried(fresh, recomputed={}) -%}
  {%- if incremental_day() -%}
  {%- set columns = adapter.get_columns_in_relation(this) if execute else [] -%}
  select {% for column in columns %}{{ adapter.quote(column.name) }}{{ ", " if not loop.last }}{% endfor %} from {{ fresh }}
  union all
  {{ carried_rows(recomputed) }}
  {%- else -%}
  select * from {{ fresh }}
  {%- endif -%}
{%- endmacro %}

{#- True for a date that enters the build or crosses the edge of one of the feature windows
    between the last build (`since`) and the as-of day: its customers' windowed counts change. -#}
{% macro moved_since(date_column) -%}
  {%- set since = "to_date('" ~ var('since', '1970-01-01') ~ "')" -%}
  {%- set windows = [0, 30, 60, 90, 180, 365, var('rfm_active_days'), var('churn_active_days')] | unique | list -%}
  (
    {%- for days in windows %}
    ({{ date_column }} > date_sub({{ since }}, {{ days }}) and {{ date_column }} <= date_sub({{ as_of_date() }}, {{ days }})){{ " or" if not loop.last }}
    {%- endfor %}
  )
{%- endmacro %}

{#- Silver's `table` as the last build read it (Delta time travel to the version it recorded). -#}
{% macro silver_then(table) -%}
  {{ source('silver', table) }} version as of {{ var('silver_versions')[table] }}
{%- endmacro %}

{#- Whether silver's `table` exists yet (silver writes a table with its first rows). -#}
{% macro silver_landed(table) -%}
  {%- set relation = source('silver', table) -%}
  {{ return(adapter.get_relation(database=relation.database, schema=relation.schema, identifier=relation.identifier) is not none) }}
{%- endmacro %}

{#- An event dated up to the as-of day that landed since the last build, or whose date enters the
    build or crosses a window's edge (`moved_since`). -#}
{% macro new_or_moved(date_column) -%}
  (({{ date_column }} <= {{ as_of_date() }} and _ds > to_date('{{ var("since", "1970-01-01") }}')) or {{ moved_since(date_column) }})
{%- endmacro %}
