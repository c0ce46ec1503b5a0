//! Connection plans' JSON against JSON written by hand from the reference's
//! `bots/api/TYPES.md` (`ConnectionPlan`, `InvitationLinkPlan`, `ContactAddressPlan`,
//! `GroupLinkPlan`, `ContactShortLinkData`, `GroupShortLinkData`) and `COMMANDS.md`
//! (`connectionPlan`).

use serde_json::json;

use super::groups::GroupProfile;
use super::plan::*;
use super::response::ChatResponse;
use super::tests::contact;
use super::types::{CreatedConnLink, Profile, User};
use crate::protocol::ContactShortLinkData;

fn enc<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).expect("encodes")
}

#[test]
fn invitation_plans() {
    let ok = ConnectionPlan::InvitationLink {
        invitation_link_plan: InvitationLinkPlan::Ok {
            contact_s_link_data: Some(ContactShortLinkData::of(&Profile::new("alice"))),
        },
    };
    assert_eq!(
        enc(&ok),
        json!({"type": "invitationLink", "invitationLinkPlan": {"type": "ok",
               "contactSLinkData_": {"profile": {"displayName": "alice", "fullName": ""},
                                     "business": false}}})
    );
    let full_link = InvitationLinkPlan::Ok {
        contact_s_link_data: None,
    };
    assert_eq!(enc(&full_link), json!({"type": "ok"}));
    assert_eq!(
        enc(&InvitationLinkPlan::OwnLink),
        json!({"type": "ownLink"})
    );
    assert_eq!(
        enc(&InvitationLinkPlan::Connecting { contact: None }),
        json!({"type": "connecting"})
    );
}

#[test]
fn address_plans() {
    assert_eq!(
        enc(&ContactAddressPlan::ConnectingConfirmReconnect),
        json!({"type": "connectingConfirmReconnect"})
    );
    let known = ConnectionPlan::ContactAddress {
        contact_address_plan: ContactAddressPlan::Known {
            contact: Box::new(contact()),
        },
    };
    assert_eq!(
        enc(&known),
        json!({"type": "contactAddress",
               "contactAddressPlan": {"type": "known", "contact": enc(&contact())}})
    );
}

#[test]
fn group_link_plans_and_the_response() {
    let ok = ConnectionPlan::GroupLink {
        group_link_plan: GroupLinkPlan::Ok {
            group_s_link_data: Some(GroupShortLinkData {
                group_profile: GroupProfile {
                    display_name: "team".into(),
                    full_name: "The Team".into(),
                },
            }),
        },
    };
    let want_plan = json!({"type": "groupLink", "groupLinkPlan": {"type": "ok",
        "groupSLinkData_": {"groupProfile": {"displayName": "team", "fullName": "The Team"}}}});
    assert_eq!(enc(&ok), want_plan);
    let r = ChatResponse::ConnectionPlan {
        user: User::of(&Profile::new("bob")),
        conn_link: CreatedConnLink {
            conn_full_link: "https://simplex.chat/contact#/?v=2".into(),
            conn_short_link: Some("https://smp.example/g#x".into()),
        },
        connection_plan: ok,
    };
    let v = enc(&r);
    assert_eq!(v["type"], "connectionPlan");
    assert_eq!(
        v["connLink"],
        json!({"connFullLink": "https://simplex.chat/contact#/?v=2",
               "connShortLink": "https://smp.example/g#x"})
    );
    assert_eq!(v["connectionPlan"], want_plan);
    assert_eq!(v["user"]["localDisplayName"], "bob");
}
