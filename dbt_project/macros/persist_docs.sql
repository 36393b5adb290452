{#-
  Column descriptions persisted to the Delta tables (persist_docs, dbt_project.yml), so a BI
  tool shows them. dbt-spark alters one column per statement: one Delta commit per column.
  This writes every column's comment in one ALTER TABLE (Spark 4's multi-column
  ALTER COLUMN): one commit per mart. The table's own description goes into the CREATE
  statement (comment_clause), no commit of its own.
-#}
{% macro spark__persist_docs(relation, model, for_relation, for_columns) -%}
  {% if for_columns and config.persist_column_docs() and model.columns %}
    {% set existing_columns = adapter.get_columns_in_relation(relation) | map(attribute="name") | list %}
    {% set documented = validate_doc_columns(relation, model.columns, existing_columns) %}
    {% set clauses = [] %}
    {% for column_name in documented %}
      {% set description = documented[column_name]['description'] | trim %}
      {% if description %}
        {% set escaped = description | replace('\\', '\\\\') | replace("'", "\\'") %}
        {% do clauses.append(adapter.quote(column_name) ~ " comment '" ~ escaped ~ "'") %}
      {% endif %}
    {% endfor %}
    {% if clauses %}
      {% call statement('persist_column_docs') %}
        alter table {{ relation }} alter column {{ clauses | join(', ') }}
      {% endcall %}
    {% endif %}
  {% endif %}
{%- endmacro %}
