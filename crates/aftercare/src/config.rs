//! Configuration: `aftercare.toml` (or the file in `AFTERCARE_CONFIG`), every key
//! overridable by an environment variable named `AFTERCARE_<KEY>` — `AFTERCARE_DATABASE_URL`,
//! `AFTERCARE_LISTEN`, `AFTERCARE_SMTP_URL`, `AFTERCARE_PROGRAMMES_DIR`,
//! `AFTERCARE_TEMPLATES_DIR`, `AFTERCARE_BRAND_<KEY>` for `[brand]` keys
//! (e.g. `AFTERCARE_BRAND_NAME`) and `AFTERCARE_POLICY_<KEY>` for `[policy]` keys
//! (e.g. `AFTERCARE_POLICY_BAND_MAX=8`), and `AFTERCARE_LOYALTY_<KEY>` for `[loyalty]`
//! (e.g. `AFTERCARE_LOYALTY_POINTS_PER_EURO=2`), and `AFTERCARE_SERVER_<KEY>` for `[server]`
//! (e.g. `AFTERCARE_SERVER_MAX_CONNECTIONS=2000`). The raw file is read once and turned into a validated
//! [`Config`]; the SMTP URL, which may hold a password, is redacted in `Debug`.

use aftercare_domain::Channel;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use aftercare_domain::delivery::TrackingConfig;
use aftercare_domain::loyalty::LoyaltyConfig;
use aftercare_domain::policy::PolicyConfig;
use aftercare_engine::render::Brand;
use anyhow::{Context, bail};
use serde::Deserialize;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_database_url")]
    database_url: String,
    #[serde(default = "default_listen")]
    listen: String,
    #[serde(default)]
    smtp_url: Option<String>,
    #[serde(default = "default_programmes_dir")]
    programmes_dir: PathBuf,
    #[serde(default)]
    templates_dir: Option<PathBuf>,
    #[serde(default)]
    custom_events: Vec<String>,
    #[serde(default = "default_lease")]
    job_lease_seconds: u32,
    #[serde(default = "default_job_lanes")]
    job_lanes: u32,
    #[serde(default)]
    smtp_rate_per_second: u32,
    #[serde(default)]
    dkim: Option<RawDkim>,
    #[serde(default)]
    email_feedback_secret: Option<String>,
    #[serde(default)]
    track_opens: bool,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    #[serde(default)]
    public_url: Option<String>,
    #[serde(default)]
    link_secret: Option<String>,
    #[serde(default)]
    brand: Brand,
    #[serde(default)]
    policy: PolicyConfig,
    #[serde(default)]
    loyalty: LoyaltyConfig,
    #[serde(default)]
    retention: aftercare_domain::retention::RetentionConfig,
    #[serde(default)]
    housekeeping: aftercare_engine::housekeeping::HousekeepingConfig,
    #[serde(default)]
    scores: aftercare_engine::scores::ScoresConfig,
    #[serde(default)]
    attribution: aftercare_engine::reports::AttributionConfig,
    #[serde(default)]
    tracking: TrackingConfig,
    #[serde(default)]
    print: aftercare_domain::print::PrintConfig,
    #[serde(default)]
    webhooks: std::collections::BTreeMap<String, aftercare_domain::webhooks::WebhookTarget>,
    #[serde(default)]
    channels: aftercare_domain::webhooks::ChannelProviders,
    #[serde(default)]
    server: aftercare_web::ServerLimits,
    #[serde(default)]
    connectors: aftercare_web::hooks::Connectors,
}

/// `[dkim]`: sign every email.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDkim {
    selector: String,
    domain: String,
    private_key_file: PathBuf,
}

fn default_lease() -> u32 {
    120
}

fn default_job_lanes() -> u32 {
    16
}

fn default_database_url() -> String {
    "sqlite://aftercare.db".into()
}
fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_programmes_dir() -> PathBuf {
    "programmes".into()
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "database_url",
    "listen",
    "smtp_url",
    "programmes_dir",
    "templates_dir",
    "custom_events",
    "job_lease_seconds",
    "job_lanes",
    "smtp_rate_per_second",
    "email_feedback_secret",
    "track_opens",
    "public_url",
    "link_secret",
    "trusted_proxies",
];

/// A secret string whose `Debug` does not show it.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://file.db` or `postgres://…`.
    pub database_url: String,
    /// Where the HTTP server listens.
    pub listen: SocketAddr,
    /// The SMTP server; `None` keeps mail in the built-in outbox.
    pub smtp_url: Option<Secret>,
    /// The programme folder.
    pub programmes_dir: PathBuf,
    /// The template folder (default: `templates/` inside the programme folder).
    pub templates_dir: PathBuf,
    /// Event types the brand posts besides the built-in ones.
    pub custom_events: Vec<String>,
    /// Seconds a worker holds a claimed job; a killed worker's jobs return after this.
    pub job_lease_seconds: u32,
    /// How many customers' jobs a worker process runs side by side (default 16; 1: one job
    /// at a time).
    pub job_lanes: u32,
    /// The mail provider's limit: at most this many messages a second per process (0: none).
    pub smtp_rate_per_second: u32,
    /// The secret the mail provider signs bounce and complaint feedback with.
    pub email_feedback_secret: Option<Secret>,
    /// Whether HTML emails carry a pixel that records opens (`track_opens`, off).
    pub track_opens: bool,
    /// DKIM signing of every email (`[dkim]`), when configured.
    pub dkim: Option<aftercare_channels::email::DkimSettings>,
    /// Where customers reach the branded pages; links in messages start with it (default:
    /// `http://` and the listen address).
    pub public_url: String,
    /// Signs customer links; when absent, a random secret is made once and kept in the
    /// database, so links stay valid across restarts.
    pub link_secret: Option<Secret>,
    /// Whether commits wait for the disk (false only for throw-away simulation databases).
    pub durable: bool,
    /// The brand.
    pub brand: Brand,
    /// The policy: caps, the yearly band, quiet hours.
    pub policy: PolicyConfig,
    /// Loyalty: earning, tiers, rewards, coupon pools, referrals (`[loyalty]`).
    pub loyalty: LoyaltyConfig,
    /// Retention offers at cancellation and who hears of an acceptance (`[retention]`,
    /// RT1).
    pub retention: aftercare_domain::retention::RetentionConfig,
    /// How long what grows forever is kept (`[housekeeping]`).
    pub housekeeping: aftercare_engine::housekeeping::HousekeepingConfig,
    /// How the daily scores are made (`[scores]`).
    pub scores: aftercare_engine::scores::ScoresConfig,
    /// Which orders are credited to a message (`[attribution]`, issue 21).
    pub attribution: aftercare_engine::reports::AttributionConfig,
    /// The tracking page: carriers and their adapters, stores with fittings, local
    /// community content, recycling (`[tracking]`).
    pub tracking: TrackingConfig,
    /// The print partner for letters: cut-off, time zone, return address (`[print]`).
    pub print: aftercare_domain::print::PrintConfig,
    /// The brand's systems that programmes' `webhook` steps call (`[webhooks.<name>]`).
    pub webhooks: std::collections::BTreeMap<String, aftercare_domain::webhooks::WebhookTarget>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`trusted_proxies`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The targets that carry SMS and app push (`[channels]`).
    pub channels: aftercare_domain::webhooks::ChannelProviders,
    /// `[server]`: connection caps and timeouts.
    pub server: aftercare_web::ServerLimits,
    /// `[connectors]`: the shop and shipping platforms whose webhooks are accepted.
    pub connectors: aftercare_web::hooks::Connectors,
}

impl Config {
    /// Loads `path` (or `AFTERCARE_CONFIG`, or `./aftercare.toml` if it exists) and applies
    /// the environment.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let env_path = std::env::var_os("AFTERCARE_CONFIG").map(PathBuf::from);
        let path = path.map(Path::to_path_buf).or(env_path);
        let mut table = match &path {
            Some(p) => read_table(p)?,
            None if Path::new("aftercare.toml").exists() => {
                read_table(Path::new("aftercare.toml"))?
            }
            None => toml::Table::new(),
        };
        apply_env(&mut table, std::env::vars());
        let raw: RawConfig = table
            .try_into()
            .context("invalid configuration (file or AFTERCARE_* environment variables)")?;
        Self::validate(raw)
    }

    fn validate(raw: RawConfig) -> anyhow::Result<Self> {
        let listen: SocketAddr = raw.listen.parse().with_context(|| {
            format!(
                "listen: '{}' is not an address such as 127.0.0.1:8080",
                raw.listen
            )
        })?;
        let db = &raw.database_url;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            bail!("database_url: '{db}' must start with sqlite:// or postgres://");
        }
        if let Some(smtp) = &raw.smtp_url
            && !(smtp.starts_with("smtp://") || smtp.starts_with("smtps://"))
        {
            bail!("smtp_url: must start with smtp:// or smtps://");
        }
        if raw.policy.band_min > raw.policy.band_max {
            bail!("policy.band_min: must not be above policy.band_max");
        }
        for (segment, band) in &raw.policy.segments {
            if band.band_min > band.band_max {
                bail!("policy.segments.{segment}.band_min: must not be above band_max");
            }
        }
        if raw.policy.send_from >= raw.policy.send_until {
            bail!("policy.send_from: must be before policy.send_until");
        }
        if raw.scores.refit_days == 0 {
            bail!(
                "scores.refit_days: must be at least 1 (days between fits of the lifetime models)"
            );
        }
        raw.loyalty
            .validate()
            .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.reason))?;
        raw.retention
            .validate()
            .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.reason))?;
        if let Some(target) = &raw.retention.webhook
            && !raw.webhooks.contains_key(target)
        {
            bail!("retention.webhook: '{target}' is not a target in [webhooks]");
        }
        if let Some(e) = raw.tracking.check().into_iter().next() {
            bail!("{}: {}", e.field, e.reason);
        }
        raw.brand
            .check()
            .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.reason))?;
        if jiff::tz::TimeZone::get(&raw.print.time_zone).is_err() {
            bail!(
                "print.time_zone: '{}' is not a known time zone",
                raw.print.time_zone
            );
        }
        aftercare_domain::webhooks::check(&raw.webhooks)
            .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.reason))?;
        raw.server
            .check()
            .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.reason))?;
        let trusted_proxies = raw
            .trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "trusted_proxies: '{p}' is not an address or a network such as 10.0.0.0/8"
                        )
                    })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        raw.channels
            .check(&raw.webhooks)
            .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.reason))?;
        let providers = raw.channels.providers();
        for (i, rule) in raw.policy.channel_rules.iter().enumerate() {
            if let Some(c) = rule
                .channels
                .iter()
                .find(|c| matches!(c, Channel::Sms | Channel::Push) && !providers.contains(c))
            {
                bail!(
                    "policy.channel_rules[{i}].channels: {} needs a provider: set [channels] {} = \"<a target in [webhooks]>\"",
                    c.as_str(),
                    c.as_str()
                );
            }
        }
        let dkim = match &raw.dkim {
            None => None,
            Some(d) => {
                for (field, value) in [("dkim.selector", &d.selector), ("dkim.domain", &d.domain)] {
                    if value.trim().is_empty() || value.contains(char::is_whitespace) {
                        bail!("{field}: must be one word, e.g. 'mail2026' or 'loopwerk.nl'");
                    }
                }
                let pem = std::fs::read_to_string(&d.private_key_file).map_err(|e| {
                    anyhow::anyhow!(
                        "dkim.private_key_file: cannot read {}: {e}",
                        d.private_key_file.display()
                    )
                })?;
                if !pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
                    bail!(
                        "dkim.private_key_file: {} is not an RSA private key in PKCS#1 PEM (openssl genrsa -traditional)",
                        d.private_key_file.display()
                    );
                }
                Some(aftercare_channels::email::DkimSettings {
                    selector: d.selector.clone(),
                    domain: d.domain.clone(),
                    private_key_pem: pem,
                })
            }
        };
        if raw
            .email_feedback_secret
            .as_ref()
            .is_some_and(|s| !s.is_empty() && s.len() < 32)
        {
            bail!("email_feedback_secret: must be at least 32 characters");
        }
        if !(1..=256).contains(&raw.job_lanes) {
            bail!("job_lanes: must be between 1 and 256");
        }
        if raw.job_lease_seconds < 2 {
            bail!("job_lease_seconds: must be at least 2");
        }
        // Without a public URL, links point at the address the server listens on.
        let public_url = raw
            .public_url
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| format!("http://{listen}"));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            bail!(
                "public_url: '{}' must start with http:// or https://",
                public_url
            );
        }
        raw.connectors
            .validate(raw.tracking.allow_private_targets)
            .map_err(anyhow::Error::msg)?;
        if let Some(target) = &raw.connectors.consent_webhook
            && !raw.webhooks.contains_key(target)
        {
            bail!("connectors.consent_webhook: '{target}' is not a [webhooks] target");
        }
        if raw.link_secret.as_ref().is_some_and(|s| s.len() < 32) {
            bail!("link_secret: must be at least 32 characters");
        }
        let templates_dir = raw
            .templates_dir
            .unwrap_or_else(|| raw.programmes_dir.join("templates"));
        Ok(Self {
            database_url: raw.database_url,
            listen,
            smtp_url: raw.smtp_url.filter(|s| !s.is_empty()).map(Secret),
            programmes_dir: raw.programmes_dir,
            templates_dir,
            custom_events: raw.custom_events,
            job_lease_seconds: raw.job_lease_seconds,
            job_lanes: raw.job_lanes,
            smtp_rate_per_second: raw.smtp_rate_per_second,
            email_feedback_secret: raw
                .email_feedback_secret
                .filter(|s| !s.is_empty())
                .map(Secret),
            track_opens: raw.track_opens,
            dkim,
            public_url,
            link_secret: raw.link_secret.filter(|s| !s.is_empty()).map(Secret),
            durable: true,
            brand: raw.brand,
            policy: raw.policy,
            loyalty: raw.loyalty,
            retention: raw.retention,
            housekeeping: raw.housekeeping,
            scores: raw.scores,
            attribution: raw.attribution,
            tracking: raw.tracking,
            print: raw.print,
            webhooks: raw.webhooks,
            channels: raw.channels,
            trusted_proxies,
            server: raw.server,
            connectors: raw.connectors,
        })
    }
}

fn read_table(path: &Path) -> anyhow::Result<toml::Table> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The connector secrets the environment may set.
const CONNECTOR_KEYS: &[(&str, &str)] = &[
    ("shopify", "secret"),
    ("woocommerce", "secret"),
    ("sendcloud", "secret"),
    ("myparcel", "api_key"),
    ("shop_codes", "token"),
];

/// Overlays `AFTERCARE_<KEY>` variables onto the file's table; `AFTERCARE_BRAND_<KEY>` and
/// `AFTERCARE_POLICY_<KEY>` reach the `[brand]` and `[policy]` sections.
fn apply_env(table: &mut toml::Table, vars: impl Iterator<Item = (String, String)>) {
    let section_keys = |defaults: Option<toml::Table>| -> Vec<String> {
        defaults
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    };
    let sections =
        [
            (
                "brand",
                section_keys(toml::Table::try_from(Brand::default()).ok()),
            ),
            (
                "policy",
                section_keys(toml::Table::try_from(PolicyConfig::default()).ok()),
            ),
            (
                "loyalty",
                section_keys(toml::Table::try_from(LoyaltyConfig::default()).ok()),
            ),
            (
                "server",
                section_keys(toml::Table::try_from(aftercare_web::ServerLimits::default()).ok()),
            ),
            (
                "housekeeping",
                section_keys(
                    toml::Table::try_from(
                        aftercare_engine::housekeeping::HousekeepingConfig::default(),
                    )
                    .ok(),
                ),
            ),
            (
                "scores",
                section_keys(
                    toml::Table::try_from(aftercare_engine::scores::ScoresConfig::default()).ok(),
                ),
            ),
            (
                "attribution",
                section_keys(
                    toml::Table::try_from(aftercare_engine::reports::AttributionConfig::default())
                        .ok(),
                ),
            ),
        ];
    for (name, value) in vars {
        let Some(key) = name.strip_prefix("AFTERCARE_").map(str::to_lowercase) else {
            continue;
        };
        // `AFTERCARE_CONNECTORS_SHOPIFY_SECRET`, `…_MYPARCEL_API_KEY`: secrets kept out of
        // the file, always text.
        if let Some((platform, field)) = CONNECTOR_KEYS
            .iter()
            .find(|(p, f)| key == format!("connectors_{p}_{f}"))
        {
            let connectors = table
                .entry("connectors")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let Some(c) = connectors.as_table_mut() {
                let entry = c
                    .entry(platform.to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let Some(t) = entry.as_table_mut() {
                    t.insert(field.to_string(), toml::Value::String(value.clone()));
                }
            }
            continue;
        }
        // Arrays, numbers and booleans are written as TOML (`["a","b"]`, `3`, `true`);
        // anything else is text.
        let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .filter(|v| !v.is_str())
            .unwrap_or(toml::Value::String(value.clone()));
        if TOP_LEVEL_KEYS.contains(&key.as_str()) {
            let parsed = if key.ends_with("_url")
                || key.ends_with("_dir")
                || key == "listen"
                || key == "link_secret"
            {
                toml::Value::String(value)
            } else {
                parsed
            };
            table.insert(key, parsed);
            continue;
        }
        for (section, keys) in &sections {
            if let Some(inner) = key.strip_prefix(&format!("{section}_"))
                && keys.iter().any(|k| k == inner)
            {
                let entry = table
                    .entry(section.to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let Some(t) = entry.as_table_mut() {
                    t.insert(inner.to_string(), parsed.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_secrets_come_from_the_environment_and_a_short_one_is_refused() {
        let mut table: toml::Table =
            toml::from_str("[connectors.sendcloud]\nsecret = \"0123456789abcdef0123\"").unwrap();
        apply_env(
            &mut table,
            [(
                "AFTERCARE_CONNECTORS_SHOPIFY_SECRET".to_string(),
                "12345".to_string(),
            )]
            .into_iter(),
        );
        let raw: RawConfig = table.try_into().unwrap();
        assert_eq!(raw.connectors.shopify.as_ref().unwrap().secret.0, "12345");
        let e = Config::validate(raw).unwrap_err().to_string();
        assert!(e.starts_with("connectors.shopify.secret:"), "{e}");
    }

    #[test]
    fn the_shop_codes_token_comes_from_the_environment_and_a_malformed_one_is_refused() {
        let mut table: toml::Table = toml::from_str(
            "[connectors.shop_codes]\nplatform = \"woocommerce\"\nurl = \"https://shop.example/wp-json/wc/v3/coupons\"",
        )
        .unwrap();
        apply_env(
            &mut table,
            [(
                "AFTERCARE_CONNECTORS_SHOP_CODES_TOKEN".to_string(),
                "ck_only".to_string(),
            )]
            .into_iter(),
        );
        let raw: RawConfig = table.clone().try_into().unwrap();
        let e = Config::validate(raw).unwrap_err().to_string();
        assert!(e.starts_with("connectors.shop_codes.token:"), "{e}");
        apply_env(
            &mut table,
            [(
                "AFTERCARE_CONNECTORS_SHOP_CODES_TOKEN".to_string(),
                "ck_1:cs_2".to_string(),
            )]
            .into_iter(),
        );
        let config = Config::validate(table.try_into().unwrap()).unwrap();
        assert_eq!(config.connectors.shop_codes.unwrap().token, "ck_1:cs_2");
        // Shopify before 2025-10 has no discount `context`; a plain-http address would
        // carry the token in the clear.
        for (url, says) in [
            (
                "https://s.myshopify.com/admin/api/2025-07/graphql.json",
                "version 2025-10 or later",
            ),
            (
                "http://s.myshopify.com/admin/api/2025-10/graphql.json",
                "must start with https://",
            ),
        ] {
            let table: toml::Table = toml::from_str(&format!(
                "[connectors.shop_codes]\nplatform = \"shopify\"\nurl = \"{url}\"\ntoken = \"shpat_0123456789abcdef\""
            ))
            .unwrap();
            let e = Config::validate(table.try_into().unwrap())
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("connectors.shop_codes.url:") && e.contains(says),
                "{e}"
            );
        }
    }

    #[test]
    fn scores_refit_interval_comes_from_the_environment_and_zero_is_refused() {
        let mut table = toml::Table::new();
        apply_env(
            &mut table,
            [("AFTERCARE_SCORES_REFIT_DAYS".to_string(), "30".to_string())].into_iter(),
        );
        let config = Config::validate(table.try_into().unwrap()).unwrap();
        assert_eq!(config.scores.refit_days, 30);
        let table: toml::Table = toml::from_str("[scores]\nrefit_days = 0").unwrap();
        let e = Config::validate(table.try_into().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("scores.refit_days:"), "{e}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut table: toml::Table =
            toml::from_str("listen = \"127.0.0.1:1\"\n[brand]\nname = \"A\"").unwrap();
        apply_env(
            &mut table,
            [
                ("AFTERCARE_LISTEN".to_string(), "127.0.0.1:9999".to_string()),
                ("AFTERCARE_BRAND_NAME".to_string(), "Loopwerk".to_string()),
                (
                    "AFTERCARE_SMTP_URL".to_string(),
                    "smtp://127.0.0.1:2525".to_string(),
                ),
                (
                    "AFTERCARE_TEST_POSTGRES_URL".to_string(),
                    "ignored".to_string(),
                ),
                ("AFTERCARE_POLICY_BAND_MAX".to_string(), "8".to_string()),
            ]
            .into_iter(),
        );
        let config = Config::validate(table.try_into().unwrap()).unwrap();
        assert_eq!(config.listen.port(), 9999);
        assert_eq!(config.brand.name, "Loopwerk");
        assert_eq!(config.smtp_url.unwrap().0, "smtp://127.0.0.1:2525");
        assert_eq!(config.database_url, "sqlite://aftercare.db");
        assert_eq!(config.policy.band_max, 8);
        assert_eq!(config.policy.band_min, 7);
    }

    #[test]
    fn brand_style_values_are_checked_before_they_reach_a_style_sheet() {
        let with_brand = |brand: &str| {
            let table: toml::Table = toml::from_str(&format!("[brand]\n{brand}")).unwrap();
            Config::validate(table.try_into().unwrap())
                .map(|c| c.brand.font_family)
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            with_brand(r#"font_family = "\"Source Sans 3\", Arial, sans-serif""#).unwrap(),
            r#""Source Sans 3", Arial, sans-serif"#
        );
        let e = with_brand(r#"font_family = "Arial;}body{display:none""#).unwrap_err();
        assert!(e.starts_with("brand.font_family: "), "{e}");
        let e = with_brand(r#"primary_colour = "red;}""#).unwrap_err();
        assert!(
            e.starts_with("brand.primary_colour: 'red;}' must be a colour"),
            "{e}"
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        assert_eq!(
            format!("{:?}", Secret("smtp://u:pw@h".into())),
            "Secret(***)"
        );
    }
}
