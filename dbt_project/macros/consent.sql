{#- The consent purposes every consumer reads; a consent event for purpose 'all' decides each of them. -#}
{% macro consent_purposes() %}
    {{ return(['email_marketing', 'sms_marketing', 'personalization', 'analytics']) }}
{% endmacro %}
