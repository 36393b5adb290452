{#- Fails with every combination of `columns` that occurs more than once. -#}
{% test unique_combination_of_columns(model, columns, column_name=none) %}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
