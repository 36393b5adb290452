{#-
  The standard RFM segment of a recency score and a frequency-monetary score (both 1-5):

            fm 1            fm 2            fm 3             fm 4             fm 5
  r 5   New Customers   Potential L.    Potential L.     Champions        Champions
  r 4   Promising       Potential L.    Potential L.     Loyal Customers  Loyal Customers
  r 3   About to Sleep  About to Sleep  Need Attention   Loyal Customers  Loyal Customers
  r 2   Hibernating     Hibernating     At Risk          At Risk          Can't Lose Them
  r 1   Lost            Lost            At Risk          At Risk          Can't Lose Them
-#}
{% macro rfm_segment(r, fm) -%}
  case
    when {{ r }} = 5 and {{ fm }} >= 4 then 'Champions'
    when {{ r }} between 3 and 4 and {{ fm }} >= 4 then 'Loyal Customers'
    when {{ r }} >= 4 and {{ fm }} between 2 and 3 then 'Potential Loyalists'
    when {{ r }} = 5 and {{ fm }} = 1 then 'New Customers'
    when {{ r }} = 4 and {{ fm }} = 1 then 'Promising'
    when {{ r }} = 3 and {{ fm }} = 3 then 'Need Attention'
    when {{ r }} = 3 and {{ fm }} <= 2 then 'About to Sleep'
    when {{ r }} <= 2 and {{ fm }} = 5 then "Can't Lose Them"
    when {{ r }} <= 2 and {{ fm }} between 3 and 4 then 'At Risk'
    when {{ r }} = 2 and {{ fm }} <= 2 then 'Hibernating'
    when {{ r }} = 1 and {{ fm }} <= 2 then 'Lost'
  end
{%- endmacro %}

{#- The segments, best first: accepted values of `rfm_segment`. -#}
{% macro rfm_segments() -%}
  {{ return(["Champions", "Loyal Customers", "Potential Loyalists", "New Customers", "Promising", "Need Attention",
             "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost"]) }}
{%- endmacro %}
