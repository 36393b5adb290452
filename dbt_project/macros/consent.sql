{#- The consent purposes every consumer reads; a consent event for purpose 'all' decides each of them. -#}
{% macro consent_purposes() %}
    {{ return(['email_marketing', 'sms_marketing', 'personalization', 'analytics']) }}
{% endmacro %}

{#- The key a consent event names a record of `alias` (silver.identity_map as staged) by: a profile
    record by its id, an address (`email_events`) by its email match key. -#}
{% macro consent_subject_key(alias) -%}
  case when {{ alias }}.record_source = 'email_events' then {{ alias }}.email_match_key else {{ alias }}.record_key end
{%- endmacro %}
