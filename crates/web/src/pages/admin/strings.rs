//! The admin UI's words in English and Dutch: one row per label, so a missing translation
//! is a missing column, not a missing key.

use serde_json::{Map, Value};

use super::Lang;

/// (key, English, Dutch).
const STRINGS: &[(&str, &str, &str)] = &[
    ("app", "Aftercare", "Aftercare"),
    ("customers", "Customers", "Klanten"),
    ("programmes", "Programmes", "Programma's"),
    ("outbox", "Outbox", "Verzonden"),
    ("audit", "Audit log", "Logboek"),
    ("sign_out", "Sign out", "Afmelden"),
    ("sign_in", "Sign in", "Aanmelden"),
    ("username", "Name", "Naam"),
    ("password", "Password", "Wachtwoord"),
    (
        "bad_credentials",
        "That name and password do not match an account.",
        "Die naam en dat wachtwoord horen niet bij een account.",
    ),
    (
        "too_many",
        "Too many sign-in attempts. Wait a minute and try again.",
        "Te veel pogingen. Wacht een minuut en probeer het opnieuw.",
    ),
    (
        "sign_in_intro",
        "For the team that runs Aftercare. Accounts are made with `aftercare user create`.",
        "Voor het team dat Aftercare beheert. Accounts maak je met `aftercare user create`.",
    ),
    ("search", "Search", "Zoeken"),
    (
        "search_label",
        "Name, email, postcode or customer id",
        "Naam, e-mail, postcode of klantnummer",
    ),
    (
        "no_results",
        "No customer matches that.",
        "Geen klant gevonden.",
    ),
    (
        "search_hint",
        "Search by name, email, postcode or id.",
        "Zoek op naam, e-mail, postcode of klantnummer.",
    ),
    ("id", "Id", "Nummer"),
    ("name", "Name", "Naam"),
    ("email", "Email", "E-mail"),
    ("postcode", "Postcode", "Postcode"),
    ("city", "City", "Plaats"),
    ("profile", "Profile", "Profiel"),
    ("greeting", "Greeting", "Aanhef"),
    ("phone", "Phone", "Telefoon"),
    ("address", "Address", "Adres"),
    ("language", "Language", "Taal"),
    ("time_zone", "Time zone", "Tijdzone"),
    ("birthday", "Birthday", "Verjaardag"),
    ("customer_since", "Customer since", "Klant sinds"),
    ("address_form", "Address form", "Aanspreekvorm"),
    ("attributes", "Attributes", "Kenmerken"),
    ("consents", "Consents", "Toestemmingen"),
    ("purpose", "Purpose", "Doel"),
    ("channel", "Channel", "Kanaal"),
    ("granted", "Granted", "Gegeven"),
    ("source", "Source", "Bron"),
    ("at", "When", "Wanneer"),
    ("yes", "yes", "ja"),
    ("no", "no", "nee"),
    ("orders", "Orders", "Bestellingen"),
    ("order", "Order", "Bestelling"),
    ("placed", "Placed", "Geplaatst"),
    ("total", "Total", "Totaal"),
    ("shipments", "Shipments", "Zendingen"),
    ("status", "Status", "Status"),
    ("carrier", "Carrier", "Vervoerder"),
    ("loyalty", "Loyalty", "Loyaliteit"),
    ("balance", "Balance", "Saldo"),
    ("points", "points", "punten"),
    ("tier", "Tier", "Niveau"),
    ("scores", "Scores", "Scores"),
    ("rfm", "RFM segment", "RFM-segment"),
    ("p_alive", "P(still active)", "Kans nog actief"),
    (
        "clv",
        "Expected value, 12 months",
        "Verwachte waarde, 12 maanden",
    ),
    (
        "not_scored",
        "Not scored yet (scores are refreshed daily).",
        "Nog geen scores (die worden dagelijks bijgewerkt).",
    ),
    ("timeline", "Timeline", "Tijdlijn"),
    ("event", "Event", "Gebeurtenis"),
    ("message", "Message", "Bericht"),
    ("state", "State", "Status"),
    ("reason", "Reason", "Reden"),
    ("history", "History", "Verloop"),
    ("enrolments", "Programmes", "Programma's"),
    ("step", "Step", "Stap"),
    ("started", "Started", "Gestart"),
    ("preview", "Preview a message", "Bericht voorbeeld"),
    ("template", "Template", "Sjabloon"),
    ("show", "Show", "Toon"),
    (
        "export",
        "Export personal data (JSON)",
        "Persoonsgegevens exporteren (JSON)",
    ),
    ("fix", "Fix data", "Gegevens corrigeren"),
    ("first_name", "First name", "Voornaam"),
    ("name_prefix", "Name prefix", "Tussenvoegsel"),
    ("last_name", "Last name", "Achternaam"),
    ("formal", "formal", "u"),
    ("informal", "informal", "je"),
    ("brand_default", "brand default", "standaard van het merk"),
    ("save", "Save", "Opslaan"),
    ("erase", "Erase personal data", "Persoonsgegevens wissen"),
    (
        "erase_note",
        "Removes name, contact details, address, birthday, attributes and consents, and the content of every message. Orders and events stay, pseudonymous. Cannot be undone.",
        "Wist naam, contactgegevens, adres, verjaardag, kenmerken en toestemmingen, en de inhoud van elk bericht. Bestellingen en gebeurtenissen blijven, gepseudonimiseerd. Niet terug te draaien.",
    ),
    (
        "erase_confirm",
        "Type the customer id to confirm",
        "Typ het klantnummer ter bevestiging",
    ),
    (
        "erased",
        "Personal data erased.",
        "Persoonsgegevens gewist.",
    ),
    ("saved", "Saved.", "Opgeslagen."),
    ("programme", "Programme", "Programma"),
    ("version", "Version", "Versie"),
    ("triggers", "Starts on", "Start bij"),
    ("live", "live", "actief"),
    ("paused", "paused", "gepauzeerd"),
    ("enrolled", "Enrolments", "Deelnames"),
    ("running", "Running", "Lopend"),
    ("goal", "Goal", "Doel"),
    ("conversion", "Conversion", "Conversie"),
    ("treated", "Treated", "Behandeld"),
    ("holdout", "Holdout", "Controlegroep"),
    ("uplift", "Uplift", "Effect"),
    ("steps", "Steps", "Stappen"),
    ("versions", "Versions", "Versies"),
    (
        "diff",
        "Changes from the previous version",
        "Wijzigingen ten opzichte van de vorige versie",
    ),
    ("pause", "Pause", "Pauzeren"),
    ("resume", "Resume", "Hervatten"),
    (
        "pause_note",
        "A paused programme starts no one and holds its running customers and queued messages until it is resumed.",
        "Een gepauzeerd programma laat niemand instromen en houdt lopende klanten en wachtende berichten vast tot het wordt hervat.",
    ),
    ("paused_by", "Paused by", "Gepauzeerd door"),
    ("requirements", "Requirements", "Eisen"),
    ("exit_on", "Leaves on", "Stopt bij"),
    ("reentry", "Re-entry", "Opnieuw instromen"),
    ("all", "all", "alle"),
    ("filter", "Filter", "Filter"),
    ("subject", "Subject", "Onderwerp"),
    ("recipient", "To", "Aan"),
    ("dead_jobs", "Dead letters", "Vastgelopen taken"),
    (
        "dead_note",
        "Jobs that failed too often and were set aside. Retry once the cause is fixed.",
        "Taken die te vaak mislukten en apart zijn gezet. Probeer opnieuw als de oorzaak is verholpen.",
    ),
    ("retry", "Retry", "Opnieuw"),
    ("error", "Error", "Fout"),
    ("attempts", "Attempts", "Pogingen"),
    ("kind", "Kind", "Soort"),
    ("none", "None.", "Geen."),
    ("who", "Who", "Wie"),
    ("action", "Action", "Actie"),
    ("subject_of", "On", "Waarop"),
    ("before", "Before", "Voor"),
    ("after", "After", "Na"),
    ("back", "Back", "Terug"),
    (
        "view_only",
        "Your role can view only.",
        "Jouw rol mag alleen kijken.",
    ),
    ("no_template", "Choose a template.", "Kies een sjabloon."),
    ("dashboards", "Dashboards", "Dashboards"),
    (
        "tile_in_band",
        "of customers inside the contact band",
        "van de klanten binnen de contactband",
    ),
    (
        "tile_repeat",
        "bought again within a year",
        "kocht binnen een jaar opnieuw",
    ),
    (
        "tile_from_existing",
        "of last year's revenue from existing customers",
        "van de omzet van vorig jaar komt van bestaande klanten",
    ),
    (
        "tile_referrals",
        "referrals converted",
        "aanbevelingen die klant werden",
    ),
    (
        "tile_loyalty",
        "earned or spent points this year",
        "spaarde of gebruikte punten dit jaar",
    ),
    (
        "dash_contacts",
        "Contacts per customer against the band (FR1)",
        "Contacten per klant tegenover de band (FR1)",
    ),
    (
        "dash_contacts_intro_all",
        "Relationship and promotional messages sent to each customer, also those who joined during the year,",
        "Relatie- en promotieberichten aan elke klant, ook wie dit jaar klant werd,",
    ),
    ("count_all", "Count every customer", "Tel alle klanten"),
    (
        "count_whole_year",
        "Count customers for the whole year only",
        "Tel alleen wie het hele jaar klant was",
    ),
    (
        "no_whole_year_customers",
        "No one has been a customer for the whole year yet. Count every customer to see the contacts so far.",
        "Nog niemand is het hele jaar klant. Tel alle klanten om de contacten tot nu toe te zien.",
    ),
    (
        "dash_contacts_intro",
        "Relationship and promotional messages sent to each customer who was a customer for the whole year,",
        "Relatie- en promotieberichten aan elke klant die het hele jaar klant was,",
    ),
    ("counted", "Customers counted", "Getelde klanten"),
    ("band", "Band", "Band"),
    ("inside", "inside", "binnen"),
    ("below", "below", "eronder"),
    ("above", "above", "erboven"),
    ("numbers", "The numbers", "De cijfers"),
    ("contacts", "Contacts", "Contacten"),
    (
        "dash_channels",
        "All messages of the year by channel and class (CH1)",
        "Alle berichten van het jaar per kanaal en soort (CH1)",
    ),
    ("class", "Class", "Soort"),
    ("messages", "Messages", "Berichten"),
    ("per_customer", "Per customer", "Per klant"),
    (
        "nothing_sent_yet",
        "Nothing was sent to these customers in the last year.",
        "Deze klanten kregen het afgelopen jaar niets.",
    ),
    (
        "dash_segments",
        "RFM segments and lifetime value (WB1)",
        "RFM-segmenten en klantwaarde (WB1)",
    ),
    ("segment", "Segment", "Segment"),
    ("share", "Share", "Aandeel"),
    (
        "value_12m",
        "Value next 12 months",
        "Waarde komende 12 maanden",
    ),
    ("dash_p_alive", "Still active?", "Nog actief?"),
    (
        "no_scores_yet",
        "No scores yet: the daily scoring fills this after its first run.",
        "Nog geen scores: de dagelijkse berekening vult dit na de eerste keer.",
    ),
    (
        "dash_uplift",
        "Programmes against their holdout (RT2)",
        "Programma's tegenover hun controlegroep (RT2)",
    ),
    ("revenue_uplift", "Revenue per customer", "Omzet per klant"),
    (
        "no_uplift_yet",
        "No programme with a goal and a holdout has a closed goal window yet.",
        "Nog geen programma met doel en controlegroep heeft een afgesloten doelperiode.",
    ),
    ("dash_retention", "Retention (RT2)", "Behoud (RT2)"),
    (
        "repeat_within",
        "Bought again within",
        "Opnieuw gekocht binnen",
    ),
    ("days", "days", "dagen"),
    ("cohort", "First order", "Eerste bestelling"),
    (
        "revenue_per_customer",
        "Revenue per customer",
        "Omzet per klant",
    ),
    ("no_orders_yet", "No orders yet.", "Nog geen bestellingen."),
    (
        "dash_pulse",
        "Satisfaction and the Pulse gap (MQ1, MQ2)",
        "Tevredenheid en het Pulse-gat (MQ1, MQ2)",
    ),
    ("mean", "Mean", "Gemiddelde"),
    ("satisfied", "Satisfied (4–5)", "Tevreden (4–5)"),
    ("pulse_gap", "Pulse gap", "Pulse-gat"),
    ("by_segment", "by segment", "per segment"),
    ("by_month", "by month", "per maand"),
    ("group", "Group", "Groep"),
    ("importance", "Importance", "Belang"),
    ("evaluation", "Evaluation", "Oordeel"),
    ("gap", "Gap", "Gat"),
    (
        "no_surveys_yet",
        "No survey answers yet.",
        "Nog geen antwoorden op enquêtes.",
    ),
    ("simulator", "Simulator", "Simulator"),
    (
        "simulator_intro",
        "A generated shop runs through the programmes and the policy on a virtual clock, on a throw-away database: nothing is sent and the live data is not touched. Paste a changed programme to see it side by side with the library as it is.",
        "Een gegenereerde winkel loopt op een virtuele klok door de programma's en het beleid, in een wegwerpdatabase: er wordt niets verstuurd en de echte gegevens blijven onaangeroerd. Plak een gewijzigd programma om het naast de huidige bibliotheek te zien.",
    ),
    (
        "simulator_unavailable",
        "This process cannot run simulations; run `aftercare simulate` on the command line.",
        "Dit proces kan geen simulaties draaien; gebruik `aftercare simulate` op de opdrachtregel.",
    ),
    (
        "not_started",
        "The simulation was not started:",
        "De simulatie is niet gestart:",
    ),
    ("sim_customers", "Customers", "Klanten"),
    ("sim_days", "Days", "Dagen"),
    ("sim_seed", "Seed", "Startwaarde"),
    ("sim_change", "Programme change", "Programmawijziging"),
    (
        "sim_change_intro",
        "Optional: choose a programme and paste its changed TOML; it replaces that programme's file in the simulation only. The file itself stays as it is.",
        "Optioneel: kies een programma en plak de gewijzigde TOML; die vervangt het bestand alleen in de simulatie. Het bestand zelf blijft zoals het is.",
    ),
    (
        "sim_no_change",
        "(none: the library as it is)",
        "(geen: de bibliotheek zoals ze is)",
    ),
    (
        "sim_text",
        "Changed programme (TOML)",
        "Gewijzigd programma (TOML)",
    ),
    ("sim_run", "Run the simulation", "Simulatie starten"),
    ("sim_runs", "Recent simulations", "Recente simulaties"),
    (
        "sim_none_yet",
        "No simulations yet.",
        "Nog geen simulaties.",
    ),
    ("sim_started_by", "Started by", "Gestart door"),
    (
        "sim_running",
        "Running; this page refreshes itself.",
        "Bezig; deze pagina ververst zichzelf.",
    ),
    ("sim_as_is", "Library as it is", "Bibliotheek zoals ze is"),
    ("sim_with_change", "With the change", "Met de wijziging"),
    (
        "sim_failed",
        "The simulation failed",
        "De simulatie is mislukt",
    ),
    (
        "sim_of_customers",
        "of the customers of the whole period",
        "van de klanten van de hele periode",
    ),
    ("sim_joined", "joined during it", "kwamen erbij"),
    (
        "sim_active",
        "Ordered, with marketing consent",
        "Besteld, met marketingtoestemming",
    ),
    (
        "sim_channels",
        "Messages by channel and class",
        "Berichten per kanaal en soort",
    ),
    (
        "sim_per_customer_year",
        "Per customer a year",
        "Per klant per jaar",
    ),
    (
        "sim_blocked",
        "Blocked, by reason",
        "Tegengehouden, per reden",
    ),
    ("sim_sent", "Sent", "Verstuurd"),
    ("sim_blocked_short", "Blocked", "Tegengehouden"),
    (
        "sim_this",
        "Simulate a change to this programme",
        "Een wijziging in dit programma simuleren",
    ),
    ("calendar", "Contact calendar", "Contactkalender"),
    (
        "calendar_intro",
        "What this customer would get over the next twelve months if nothing else happened (no new orders, shipments or answers), worked out by the engine itself — the same programmes, occasions and policy — on a throw-away copy of their data. Enrolments already running are listed as queued messages below, not projected.",
        "Wat deze klant de komende twaalf maanden zou krijgen als er verder niets gebeurt (geen nieuwe bestellingen, zendingen of antwoorden), uitgerekend door de engine zelf — dezelfde programma's, momenten en regels — op een wegwerpkopie van de gegevens. Lopende deelnames staan hieronder als wachtende berichten, niet in de vooruitblik.",
    ),
    ("from_when", "From", "Vanaf"),
    (
        "cal_projected",
        "Relationship and promotional contacts in the coming year",
        "Relatie- en promotiecontacten komend jaar",
    ),
    ("cal_last_year", "in the last year", "afgelopen jaar"),
    ("cal_by_month", "By month", "Per maand"),
    ("cal_month", "Month", "Maand"),
    ("cal_contacts", "Contacts (band)", "Contacten (band)"),
    (
        "cal_other",
        "Service and transactional",
        "Service en transactie",
    ),
    ("cal_held", "Held back or blocked", "Tegengehouden"),
    ("cal_queued", "Queued now", "Nu in de wachtrij"),
    ("cal_year", "The coming year", "Het komende jaar"),
    (
        "cal_counts",
        "counts towards the yearly band",
        "telt mee voor de jaarband",
    ),
    (
        "cal_nothing",
        "Nothing would be sent in the coming year.",
        "Komend jaar zou er niets worden verstuurd.",
    ),
    ("shipment", "Shipment", "Zending"),
    ("expected", "Expected", "Verwacht"),
    ("cases", "Service cases", "Klantvragen"),
    ("opened", "Opened", "Geopend"),
    ("resolved", "Resolved", "Opgelost"),
    ("open", "open", "open"),
    ("draft", "draft", "concept"),
    (
        "draft_note",
        "A draft: checked and versioned, simulated from the simulator, but nobody is enrolled until its file says status = \"live\".",
        "Een concept: gecontroleerd en met versies, te simuleren in de simulator, maar niemand stroomt in tot het bestand status = \"live\" zegt.",
    ),
];

/// Every label the admin templates use, in `lang`.
pub fn strings(lang: Lang) -> Value {
    let mut map = Map::with_capacity(STRINGS.len());
    for (key, en, nl) in STRINGS {
        map.insert((*key).to_string(), lang.pick(en, nl).into());
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `t.key` a template uses has a row; a missing one would render as nothing.
    #[test]
    fn every_label_the_templates_use_exists() {
        let keys: std::collections::BTreeSet<&str> = STRINGS.iter().map(|r| r.0).collect();
        let templates = [
            include_str!("templates/admin_base.html"),
            include_str!("templates/sign_in.html"),
            include_str!("templates/problem.html"),
            include_str!("templates/customers.html"),
            include_str!("templates/customer.html"),
            include_str!("templates/preview.html"),
            include_str!("templates/programmes.html"),
            include_str!("templates/programme.html"),
            include_str!("templates/outbox.html"),
            include_str!("templates/audit.html"),
            include_str!("templates/dashboards.html"),
            include_str!("templates/simulator.html"),
            include_str!("templates/simulation.html"),
            include_str!("templates/calendar.html"),
        ];
        for text in templates {
            for (i, _) in text.match_indices("t.") {
                let before = text[..i].chars().last();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                    continue;
                }
                let key: String = text[i + 2..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(keys.contains(key.as_str()), "no label '{key}'");
            }
        }
    }
}
