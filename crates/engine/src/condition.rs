//! Conditions in programmes, written in CEL (the Common Expression Language, via the `cel`
//! crate): `customer.locale == "nl-BE" && stats.orders_count >= 3`.
//!
//! A condition sees `customer` (the record as the API takes it), `order` and `products`
//! (when the enrolment is about an order), `recommendations` (what others bought with the
//! order's products that the customer does not own, best first: OF2), `event` (the
//! trigger's properties) and `stats`
//! (computed: `orders_count`, `total_spent_cents`, `days_since_last_order`,
//! `days_as_customer`). [`Condition::parse`] type-checks an expression by evaluating it
//! against a sample of that data model, so a misspelt field or a comparison of a text with
//! a number is found by `aftercare check`, not in production.
//!
//! Requirements: FR1 (relevant programmes), PE1, PI1 (conditions on segment and income).

use std::sync::Arc;

use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString,
};
use cel::common::value::Val;
use cel::{Context, Env, Program, Value};
use serde_json::json;

/// CEL's standard functions, made once: building them is most of the cost of a fresh
/// context, and a condition is evaluated many times (millions in the fast simulator).
static STANDARD: std::sync::LazyLock<Arc<Env>> =
    std::sync::LazyLock::new(|| Arc::new(Env::stdlib()));

/// A compiled, checked condition.
#[derive(Clone)]
pub struct Condition {
    source: String,
    program: Arc<Program>,
    /// Which of the [`VARIABLES`] it reads.
    reads: [bool; 6],
    /// The fields of `stats` it reads, when it only ever reads `stats.<field>`.
    stats_fields: Option<Vec<String>>,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Condition({:?})", self.source)
    }
}

/// The variables a condition may use.
pub const VARIABLES: &[&str] = &[
    "customer",
    "order",
    "products",
    "event",
    "stats",
    "recommendations",
];

impl Condition {
    /// Compiles and type-checks `source`.
    pub fn parse(source: &str) -> Result<Self, String> {
        let program = Program::compile(source)
            .map_err(|e| format!("condition '{source}' does not parse: {e}"))?;
        for var in free_variables(&program) {
            if !VARIABLES.contains(&var.as_str()) {
                return Err(format!(
                    "condition '{source}' uses '{var}'; conditions can use {}",
                    VARIABLES.join(", ")
                ));
            }
        }
        let condition = Self::compiled(source, program);
        match condition.evaluate(&sample_data()) {
            Ok(_) => Ok(condition),
            Err(e) => Err(format!(
                "condition '{source}' does not fit the data model: {e}"
            )),
        }
    }

    /// The variables `source` reads, once it compiles (before it is checked against the
    /// data model, so a caller can say first which variables it may not read).
    pub fn variables_of(source: &str) -> Result<Vec<String>, String> {
        let program = Program::compile(source)
            .map_err(|e| format!("condition '{source}' does not parse: {e}"))?;
        Ok(free_variables(&program).into_iter().collect())
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Compiles an expression that gives a date (`YYYY-MM-DD`) or a timestamp, such as
    /// `event.ends_on`, and checks it against the sample data model.
    pub fn parse_date(source: &str) -> Result<Self, String> {
        let program = Program::compile(source)
            .map_err(|e| format!("expression '{source}' does not parse: {e}"))?;
        let expression = Self::compiled(source, program);
        expression.evaluate_date(&sample_data()).map_err(|e| {
            format!("expression '{source}' does not give a date in the data model: {e}")
        })?;
        Ok(expression)
    }

    /// Evaluates a date expression; a timestamp counts as its UTC date.
    pub fn evaluate_date(&self, data: &serde_json::Value) -> Result<jiff::civil::Date, String> {
        as_date(self.execute(data)?)
    }

    fn execute(&self, data: &serde_json::Value) -> Result<Value, String> {
        let values: Vec<(&str, Data<'_>)> = VARIABLES
            .iter()
            .filter_map(|var| data.get(*var).map(|v| (*var, Data::Json(v))))
            .collect();
        self.evaluate_data(&values)
    }

    /// Evaluates against the data each variable reads, built straight into CEL's own values
    /// and borrowing its strings: no intermediate [`Value`] and no copy of every map, which
    /// is most of what a condition costs (the fast simulator evaluates tens of millions).
    /// A variable left out is `null`.
    pub fn evaluate_data(&self, values: &[(&str, Data<'_>)]) -> Result<Value, String> {
        let mut ctx = Context::with_env(STANDARD.clone());
        for (var, _) in VARIABLES.iter().zip(self.reads).filter(|(_, read)| *read) {
            let value: Box<dyn Val + '_> = match values.iter().find(|(name, _)| name == var) {
                Some((_, Data::Json(v))) => to_val(v),
                Some((_, Data::Owned(v))) => to_val(v),
                Some((_, Data::List(items))) => Box::new(CelList::from(
                    items.iter().map(|v| to_val(v)).collect::<Vec<_>>(),
                )),
                None => Box::new(CelNull),
            };
            ctx.add_variable_as_val(*var, value);
        }
        self.program.execute(&ctx).map_err(|e| e.to_string())
    }

    /// [`Self::evaluate_data`] for a condition: true or false.
    pub fn holds_with(&self, values: &[(&str, Data<'_>)]) -> Result<bool, String> {
        match self.evaluate_data(values)? {
            Value::Bool(b) => Ok(b),
            other => Err(format!("it gives {other:?}, not true or false")),
        }
    }

    /// [`Self::evaluate_date`] against [`Data`] (see [`Self::evaluate_data`]).
    pub fn date_with(&self, values: &[(&str, Data<'_>)]) -> Result<jiff::civil::Date, String> {
        as_date(self.evaluate_data(values)?)
    }

    /// Whether the expression reads `variable` (one of [`VARIABLES`]), so a caller builds
    /// only the data it needs.
    pub fn uses(&self, variable: &str) -> bool {
        VARIABLES
            .iter()
            .position(|v| *v == variable)
            .is_some_and(|i| self.reads[i])
    }

    fn compiled(source: &str, program: Program) -> Self {
        let free = free_variables(&program);
        let mut reads = [false; 6];
        for (read, v) in reads.iter_mut().zip(VARIABLES) {
            *read = free.contains(*v);
        }
        Self {
            source: source.to_string(),
            program: Arc::new(program),
            reads,
            stats_fields: member_fields(source, "stats"),
        }
    }

    /// The fields of `stats` the expression reads, when it reads only `stats.<field>`
    /// (so a caller computes just those); `None` when it may read any.
    pub fn stats_fields(&self) -> Option<&[String]> {
        self.stats_fields.as_deref()
    }

    /// Evaluates against `data` (an object with the [`VARIABLES`] as keys).
    pub fn evaluate(&self, data: &serde_json::Value) -> Result<bool, String> {
        match self.execute(data)? {
            Value::Bool(b) => Ok(b),
            other => Err(format!("it gives {other:?}, not true or false")),
        }
    }
}

/// The names `program` reads from outside: every identifier except those a comprehension
/// (`products.exists(p, p.tips != [])`, `all`, `map`, `filter`, `exists_one`) binds within
/// its own body, and the macros' internal accumulator.
fn free_variables(program: &Program) -> std::collections::BTreeSet<String> {
    use cel::common::ast::{EntryExpr, Expr, IdedExpr};
    fn walk(e: &IdedExpr, bound: &mut Vec<String>, out: &mut std::collections::BTreeSet<String>) {
        fn entry(entry: &EntryExpr) -> Vec<&IdedExpr> {
            match entry {
                EntryExpr::StructField(f) => vec![&f.value],
                EntryExpr::MapEntry(m) => vec![&m.key, &m.value],
            }
        }
        match &e.expr {
            Expr::Unspecified | Expr::Literal(_) => {}
            Expr::Ident(name) => {
                if !name.starts_with('@') && !bound.contains(name) {
                    out.insert(name.clone());
                }
            }
            Expr::Call(call) => {
                if let Some(target) = &call.target {
                    walk(target, bound, out);
                }
                for arg in &call.args {
                    walk(arg, bound, out);
                }
            }
            Expr::Select(select) => walk(&select.operand, bound, out),
            Expr::List(list) => {
                for element in &list.elements {
                    walk(element, bound, out);
                }
            }
            Expr::Map(map) => {
                for e in map.entries.iter().flat_map(|x| entry(&x.expr)) {
                    walk(e, bound, out);
                }
            }
            Expr::Struct(s) => {
                for e in s.entries.iter().flat_map(|x| entry(&x.expr)) {
                    walk(e, bound, out);
                }
            }
            Expr::Comprehension(c) => {
                walk(&c.iter_range, bound, out);
                walk(&c.accu_init, bound, out);
                let depth = bound.len();
                bound.push(c.iter_var.clone());
                bound.extend(c.iter_var2.clone());
                bound.push(c.accu_var.clone());
                walk(&c.loop_cond, bound, out);
                walk(&c.loop_step, bound, out);
                walk(&c.result, bound, out);
                bound.truncate(depth);
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(program.expression(), &mut Vec::new(), &mut out);
    out
}

/// A date expression's value as a date; a timestamp counts as its UTC date.
fn as_date(value: Value) -> Result<jiff::civil::Date, String> {
    match value {
        Value::String(s) => s
            .parse::<jiff::civil::Date>()
            .or_else(|_| {
                s.parse::<jiff::Timestamp>()
                    .map(|t| t.to_zoned_datetime(jiff::tz::TimeZone::UTC).date())
            })
            .map_err(|_| format!("'{s}' is not a date such as 2026-06-30")),
        other => Err(format!("it gives {other:?}, not a date")),
    }
}

/// The fields read as `variable.<field>` in `source`, or `None` when `variable` is used in
/// any other way (`stats["x"]`, `has(stats)`, `stats` alone) or appears inside a string.
fn member_fields(source: &str, variable: &str) -> Option<Vec<String>> {
    if source.contains(['"', '\'']) && source.contains(variable) {
        return None;
    }
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut fields: Vec<String> = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(variable) {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + variable.len()..];
        rest = after;
        if before.is_some_and(|c| ident(c) || c == '.') || after.starts_with(ident) {
            continue;
        }
        let field: String = after
            .strip_prefix('.')?
            .chars()
            .take_while(|c| ident(*c))
            .collect();
        if field.is_empty() {
            return None;
        }
        if !fields.contains(&field) {
            fields.push(field);
        }
    }
    Some(fields)
}

/// A product as conditions read it (`products`, `recommendations`): the record in its own
/// language without its translations, which say nothing a condition asks about (whether
/// there are tips, a successor, a lifespan) and would only make every evaluation larger.
/// The worker and the fast simulator both give products this way.
pub fn product_json(product: &aftercare_domain::ProductRecord) -> serde_json::Value {
    let mut value = serde_json::to_value(product).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.remove("translations");
    }
    value
}

/// What a condition reads for one variable.
pub enum Data<'v> {
    /// A JSON value borrowed from the caller (a customer record kept between conditions).
    Json(&'v serde_json::Value),
    /// A JSON value made for this evaluation.
    Owned(serde_json::Value),
    /// A list of borrowed JSON values (the order's products, made once per run).
    List(Vec<&'v serde_json::Value>),
}

/// `value` as one of CEL's own values, its strings borrowed, with every whole number an
/// `int` (not a `uint`), so `stats.orders_count + 1` and
/// `customer.attributes.household_members > 2` work as a reader expects.
fn to_val(value: &serde_json::Value) -> Box<dyn Val + '_> {
    match value {
        serde_json::Value::Null => Box::new(CelNull),
        serde_json::Value::Bool(b) => Box::new(CelBool::from(*b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Box::new(CelInt::from(i)),
            None => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        serde_json::Value::String(s) => Box::new(CelString::from(s.as_str())),
        serde_json::Value::Array(items) => {
            Box::new(CelList::from(items.iter().map(to_val).collect::<Vec<_>>()))
        }
        serde_json::Value::Object(map) => Box::new(CelMap::from(
            map.iter()
                .map(|(k, v)| (CelMapKey::String(CelString::from(k.as_str())), to_val(v)))
                .collect::<std::collections::HashMap<_, _>>(),
        )),
    }
}

/// What conditions read as `stats`: one type for the worker and the fast simulator, so a
/// condition sees the same fields wherever it runs — a field added here must be filled in
/// by both, or neither compiles (issue 20). [`sample_data`] holds [`Stats::sample`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stats {
    /// Orders placed.
    pub orders_count: i64,
    /// What they came to, in cents.
    pub total_spent_cents: i64,
    /// Loyalty points to spend now.
    pub points_balance: i64,
    /// Days since the last order, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_since_last_order: Option<i64>,
    /// Days since the customer's first purchase (or `customer_since`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_as_customer: Option<i64>,
    /// The RFM segment of the daily scores (`new_customers` before the first run); the
    /// fast simulator leaves it out (it needs the whole shop's quintiles every day).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rfm_segment: Option<String>,
    /// The chance the customer is still active (BG/NBD; 1 before the model can be fitted).
    pub p_alive: f64,
    /// Purchases expected in the next 90 days (BG/NBD; 0 before a fit).
    pub expected_purchases_90d: f64,
    /// Lifetime value over the next 12 months, in cents (BG/NBD with Gamma-Gamma; 0 before a
    /// fit).
    pub clv_12m_cents: i64,
}

impl Stats {
    /// The stats of `check`'s sample customer.
    pub fn sample() -> Self {
        Self {
            orders_count: 2,
            total_spent_cents: 25_990,
            points_balance: 120,
            days_since_last_order: Some(10),
            days_as_customer: Some(400),
            rfm_segment: Some("loyal".into()),
            p_alive: 0.8,
            expected_purchases_90d: 0.6,
            clv_12m_cents: 4_500,
        }
    }

    /// As JSON, the way conditions and event properties read it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// An order as conditions read it: the record with its `total_cents`.
pub fn order_json(
    order: &aftercare_domain::OrderRecord,
    bought_before: &std::collections::HashSet<&str>,
) -> serde_json::Value {
    let mut v = serde_json::to_value(order).unwrap_or_default();
    v["total_cents"] = order.total_cents().into();
    v["new_skus"] = new_skus(order, bought_before).into();
    v
}

/// The SKUs of `order` the customer had not ordered before it, in line order (issue 23:
/// tips and product information only for what is new to them).
pub fn new_skus(
    order: &aftercare_domain::OrderRecord,
    bought_before: &std::collections::HashSet<&str>,
) -> Vec<String> {
    let mut new: Vec<String> = Vec::new();
    for line in &order.lines {
        let sku = line.sku.as_str();
        if !bought_before.contains(sku) && !new.iter().any(|s| s == sku) {
            new.push(sku.to_string());
        }
    }
    new
}

/// A customer, order, products, event and stats with every field present, for checking.
pub fn sample_data() -> serde_json::Value {
    json!({
        "customer": {
            "external_id": "C1", "email": "x@example.nl", "phone": "+31612345678",
            "first_name": "Jan", "name_prefix": "de", "last_name": "Vries", "gender": "male",
            "address_form": "formal", "locale": "nl-NL", "time_zone": "Europe/Amsterdam",
            "birth_date": "1980-01-01", "customer_since": "2020-01-01",
            "postal_address": {"street": "Damrak", "house_number": "1", "house_number_addition": "A",
                               "postcode": "1012 LG", "city": "Amsterdam", "country": "NL"},
            "attributes": {"segment": "runner", "income_band": "high", "tags": ["vip"],
                           "household_members": [{"first_name": "Sanne", "birth_date": "2014-05-04", "relation": "daughter"}]},
            "consents": [],
        },
        "order": {"external_id": "W1", "total_cents": 12995, "currency": "EUR",
                  "delivery_method": "home", "placed_at": "2026-01-01T00:00:00Z",
                  "lines": [{"sku": "S", "quantity": 1, "unit_price_cents": 12995}], "new_skus": ["S"]},
        "products": [{"sku": "S", "name": "Shoe", "category": "running-shoes", "price_cents": 12995,
                      "currency": "EUR", "lifespan_days": 365, "tips": [], "successor_sku": "T"}],
        "recommendations": [{"sku": "U", "name": "Socks", "category": "socks", "price_cents": 1995,
                      "currency": "EUR", "lifespan_days": 270, "tips": [], "successor_sku": null}],
        "event": {"order_external_id": "W1", "status": "delivered", "carrier": "postnl", "event_type": "x", "sku": "S",
                  "ends_on": "2026-06-30", "segment": "runner", "previous": "casual", "role": "referrer",
                  "coupon": {"code": "ABCD-EFGH", "value": "€10.00", "valid_until": "2026-07-01T00:00:00Z", "pool": "referral", "min_order_cents": 0}},
        "stats": Stats::sample().to_json(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_evaluate_over_the_data_model() {
        let c = Condition::parse("customer.locale == 'nl-BE' && stats.orders_count >= 2").unwrap();
        let mut data = sample_data();
        assert!(!c.evaluate(&data).unwrap());
        data["customer"]["locale"] = json!("nl-BE");
        assert!(c.evaluate(&data).unwrap());
    }

    #[test]
    fn mistakes_are_found_before_running() {
        for (source, expected) in [
            ("customer.locale ==", "does not parse"),
            ("client.locale == 'nl-BE'", "uses 'client'"),
            (
                "products.exists(p, p.tips != []) && p.sku == 'S'",
                "uses 'p'",
            ),
            ("customer.lokale == 'nl-BE'", "does not fit the data model"),
            ("stats.orders_count > 'many'", "does not fit the data model"),
            ("stats.orders_count + 1", "not true or false"),
            (
                "stats.orders_count + 1 > 'x'",
                "does not fit the data model",
            ),
        ] {
            let err = Condition::parse(source).unwrap_err();
            assert!(err.contains(expected), "{source}: {err}");
        }
    }

    #[test]
    fn comprehension_variables_are_the_conditions_own() {
        let c = Condition::parse("products.exists(p, p.sku in order.new_skus && size(p.tips) > 0)")
            .unwrap();
        let mut data = sample_data();
        assert!(!c.evaluate(&data).unwrap(), "the sample shoe has no tips");
        data["products"][0]["tips"] = json!(["Loop ze eerst kort in."]);
        assert!(c.evaluate(&data).unwrap());
        data["order"]["new_skus"] = json!([]);
        assert!(
            !c.evaluate(&data).unwrap(),
            "tips for what they owned already"
        );
        assert!(c.uses("products") && c.uses("order") && !c.uses("customer"));
        assert!(Condition::parse("products.all(p, products.exists(q, q.sku == p.sku))").is_ok());
        // product-info's entry: a successor counts as something to say; a product without
        // one carries `null` (the record serialises every field).
        let info = Condition::parse(
            "products.exists(p, p.sku in order.new_skus && (size(p.tips) > 0 || p.successor_sku != null))",
        )
        .unwrap();
        let mut data = sample_data();
        assert!(info.evaluate(&data).unwrap());
        data["products"][0]["successor_sku"] = json!(null);
        assert!(!info.evaluate(&data).unwrap());
    }

    #[test]
    fn the_stats_fields_a_condition_reads_are_known() {
        let c = |s: &str| Condition::parse(s).unwrap();
        assert_eq!(
            c("stats.orders_count >= 3 && stats.p_alive < 0.5").stats_fields(),
            Some(&["orders_count".to_string(), "p_alive".to_string()][..])
        );
        assert_eq!(
            c("customer.locale == 'nl-BE'").stats_fields(),
            Some(&[][..])
        );
        assert_eq!(
            c("has(stats.orders_count)").stats_fields(),
            Some(&["orders_count".to_string()][..])
        );
        assert_eq!(c("stats['orders_count'] > 1").stats_fields(), None);
        assert_eq!(
            c("has(customer.attributes.mystats) || stats.orders_count > 1").stats_fields(),
            Some(&["orders_count".to_string()][..])
        );
    }
}
