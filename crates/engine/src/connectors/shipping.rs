//! Shipping platforms' status webhooks: Sendcloud's `parcel_status_changed` and MyParcel's
//! `shipment_status_change`, mapped onto Aftercare's shipment statuses (PX1). A status
//! Aftercare does not follow (a label being announced, a cancellation) is ignored with
//! its id and name, so the team can see it in the delivery log.

use aftercare_domain::{FieldError, ShipmentStatus};
use jiff::Timestamp;
use serde::Deserialize;

use super::{Change, Mapped, OrderRef, carrier_key, carrier_shipment, parse_body};

/// Sendcloud's parcel status ids (its `/parcels/statuses` list) as Aftercare's statuses.
pub const SENDCLOUD_STATUSES: &[(u32, ShipmentStatus)] = &[
    (1000, ShipmentStatus::LabelCreated), // Ready to send
    (1, ShipmentStatus::LabelCreated),    // Announced
    (22, ShipmentStatus::HandedOver),     // Shipment picked up by driver
    (3, ShipmentStatus::InTransit),       // En route to sorting center
    (4, ShipmentStatus::InTransit),       // Delivery delayed
    (5, ShipmentStatus::InTransit),       // Sorted
    (7, ShipmentStatus::InTransit),       // Being sorted
    (91, ShipmentStatus::InTransit),      // Parcel en route
    (92, ShipmentStatus::OutForDelivery), // Driver en route
    (8, ShipmentStatus::DeliveryFailed),  // Delivery attempt failed
    (80, ShipmentStatus::DeliveryFailed), // Unable to deliver
    (11, ShipmentStatus::Delivered),      // Delivered
    (12, ShipmentStatus::ReadyForPickup), // Awaiting customer pickup
    (93, ShipmentStatus::PickedUp),       // Shipment collected by customer
];

/// MyParcel's shipment status codes as Aftercare's statuses.
pub const MYPARCEL_STATUSES: &[(u32, ShipmentStatus)] = &[
    (2, ShipmentStatus::LabelCreated),   // pending - registered
    (3, ShipmentStatus::HandedOver),     // enroute - handed to carrier
    (4, ShipmentStatus::InTransit),      // enroute - sorting
    (5, ShipmentStatus::InTransit),      // enroute - distribution (not yet "today")
    (6, ShipmentStatus::InTransit),      // enroute - customs
    (7, ShipmentStatus::Delivered),      // delivered - at recipient
    (19, ShipmentStatus::Delivered),     // delivered - at agreed location
    (8, ShipmentStatus::ReadyForPickup), // delivered - ready for pickup
    (9, ShipmentStatus::PickedUp),       // delivered - package picked up
    (10, ShipmentStatus::Returned),      // delivered - return shipment ready for pickup
    (11, ShipmentStatus::Returned),      // delivered - return shipment package picked up
];

/// MyParcel's carrier ids.
const MYPARCEL_CARRIERS: &[(u32, &str)] = &[
    (1, "postnl"),
    (2, "bpost"),
    (4, "dpd"),
    (8, "ups"),
    (9, "dhl"),
];

fn status_of(table: &[(u32, ShipmentStatus)], id: u32) -> Option<ShipmentStatus> {
    table.iter().find(|(i, _)| *i == id).map(|(_, s)| *s)
}

#[derive(Debug, Deserialize)]
struct SendcloudStatus {
    id: u32,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SendcloudCarrier {
    #[serde(default)]
    code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SendcloudParcel {
    #[serde(default)]
    tracking_number: Option<String>,
    #[serde(default)]
    order_number: Option<String>,
    status: SendcloudStatus,
    #[serde(default)]
    carrier: Option<SendcloudCarrier>,
    #[serde(default)]
    is_return: bool,
}

#[derive(Debug, Deserialize)]
struct SendcloudHook {
    action: String,
    /// Milliseconds since the epoch.
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    parcel: Option<SendcloudParcel>,
}

/// A Sendcloud webhook.
pub fn sendcloud(body: &[u8], now: Timestamp) -> Result<Mapped, FieldError> {
    let hook: SendcloudHook = parse_body(body)?;
    if hook.action != "parcel_status_changed" {
        return Ok(Mapped::Ignored(format!(
            "action {} is not one Aftercare follows",
            hook.action
        )));
    }
    let parcel = hook
        .parcel
        .ok_or_else(|| FieldError::new("parcel", "a parcel status change names no parcel"))?;
    if parcel.is_return {
        return Ok(Mapped::Ignored(
            "a return parcel on its way back: the return counts when the shop refunds it".into(),
        ));
    }
    let Some(status) = status_of(SENDCLOUD_STATUSES, parcel.status.id) else {
        return Ok(Mapped::Ignored(format!(
            "Sendcloud status {} ({}) is not one Aftercare follows",
            parcel.status.id,
            parcel.status.message.as_deref().unwrap_or("no name")
        )));
    };
    let tracking = parcel
        .tracking_number
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| FieldError::new("parcel.tracking_number", "must not be empty"))?;
    let at = match hook.timestamp {
        Some(ms) => Timestamp::from_millisecond(ms)
            .map_err(|e| FieldError::new("timestamp", e.to_string()))?
            .min(now),
        None => now,
    };
    let carrier = carrier_key(
        parcel
            .carrier
            .and_then(|c| c.code)
            .as_deref()
            .unwrap_or("unknown"),
    );
    Ok(Mapped::Changes(vec![Change::Shipment {
        order: OrderRef::Shipping {
            number: parcel.order_number.filter(|n| !n.trim().is_empty()),
            tracking: tracking.clone(),
        },
        shipment: carrier_shipment(&tracking, &carrier, status, at)?,
    }]))
}

#[derive(Debug, Deserialize)]
struct MyParcelHook {
    #[serde(default)]
    barcode: Option<String>,
    status: u32,
    #[serde(default)]
    carrier_id: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct MyParcelData {
    hooks: Vec<MyParcelHook>,
}

#[derive(Debug, Deserialize)]
struct MyParcelBody {
    data: MyParcelData,
}

/// A MyParcel webhook: one or more status changes, each linked to the order by its barcode
/// (the tracking code the shop's fulfilment reported).
pub fn myparcel(body: &[u8], now: Timestamp) -> Result<Mapped, FieldError> {
    let body: MyParcelBody = parse_body(body)?;
    let mut changes = Vec::new();
    let mut ignored = Vec::new();
    for (i, hook) in body.data.hooks.iter().enumerate() {
        let Some(status) = status_of(MYPARCEL_STATUSES, hook.status) else {
            ignored.push(format!(
                "MyParcel status {} is not one Aftercare follows",
                hook.status
            ));
            continue;
        };
        let barcode = hook
            .barcode
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .ok_or_else(|| {
                FieldError::new(format!("data.hooks[{i}].barcode"), "must not be empty")
            })?;
        let carrier = hook
            .carrier_id
            .and_then(|id| MYPARCEL_CARRIERS.iter().find(|(i, _)| *i == id))
            .map(|(_, c)| *c)
            // MyParcel.nl ships with PostNL unless it says otherwise.
            .unwrap_or("postnl");
        changes.push(Change::Shipment {
            order: OrderRef::Tracking(barcode.to_string()),
            shipment: carrier_shipment(barcode, carrier, status, now)?,
        });
    }
    if changes.is_empty() {
        return Ok(Mapped::Ignored(if ignored.is_empty() {
            "no status changes".into()
        } else {
            ignored.join("; ")
        }));
    }
    Ok(Mapped::Changes(changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-03-02T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn sendcloud_delivered_is_delivered_and_an_announcement_failure_is_ignored() {
        let body = br#"{"action": "parcel_status_changed", "timestamp": 1772445600000,
            "parcel": {"id": 1, "tracking_number": "3SYZXG1", "order_number": "1001",
                       "status": {"id": 11, "message": "Delivered"}, "carrier": {"code": "postnl"}}}"#;
        let Mapped::Changes(changes) = sendcloud(body, now()).unwrap() else {
            panic!()
        };
        let Change::Shipment {
            shipment: event,
            order,
        } = &changes[0]
        else {
            panic!()
        };
        assert_eq!(event.status, ShipmentStatus::Delivered);
        assert_eq!(
            *order,
            OrderRef::Shipping {
                number: Some("1001".into()),
                tracking: "3SYZXG1".into()
            }
        );
        let failed = br#"{"action": "parcel_status_changed", "timestamp": 1,
            "parcel": {"tracking_number": "X", "status": {"id": 1002, "message": "Announcement failed"}}}"#;
        match sendcloud(failed, now()).unwrap() {
            Mapped::Ignored(why) => assert!(why.contains("1002 (Announcement failed)"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn myparcel_statuses_follow_the_documented_codes() {
        let body = br#"{"data": {"hooks": [{"shipment_id": "25482412", "account_id": 7003,
            "shop_id": 1897, "status": 7, "barcode": "3SMYPA749883621"}]}}"#;
        let Mapped::Changes(changes) = myparcel(body, now()).unwrap() else {
            panic!()
        };
        let Change::Shipment {
            shipment: event,
            order,
        } = &changes[0]
        else {
            panic!()
        };
        assert_eq!(event.status, ShipmentStatus::Delivered);
        assert_eq!(event.carrier, "postnl");
        assert_eq!(*order, OrderRef::Tracking("3SMYPA749883621".into()));
        let concept = br#"{"data": {"hooks": [{"status": 1, "barcode": ""}]}}"#;
        assert!(matches!(myparcel(concept, now()), Ok(Mapped::Ignored(_))));
    }
}
