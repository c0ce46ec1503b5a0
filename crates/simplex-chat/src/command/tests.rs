//! The parser's tests.

use super::*;

fn send(n: &str, t: &str) -> Command {
    Command::Send {
        name: n.into(),
        text: t.into(),
    }
}

#[test]
fn commands_parse_like_the_reference() {
    assert_eq!(parse("/c"), Ok(Command::AddContact));
    assert_eq!(parse("/connect"), Ok(Command::AddContact));
    assert_eq!(
        parse("/c https://simplex.chat/invitation#/?v=1"),
        Ok(Command::Connect(
            "https://simplex.chat/invitation#/?v=1".into()
        ))
    );
    assert_eq!(
        parse("/_connect plan 1 https://smp.example/i#abc"),
        Ok(Command::ConnectPlan("https://smp.example/i#abc".into()))
    );
    assert_eq!(
        parse("/pq @bob on"),
        Ok(Command::SetContactPq("bob".into()))
    );
    assert_eq!(
        parse("/pq bob off"),
        Ok(Command::SetContactPq("bob".into()))
    );
    assert_eq!(parse("@bob hello there"), Ok(send("bob", "hello there")));
    assert_eq!(parse("@'bob smith' hi"), Ok(send("bob smith", "hi")));
    assert_eq!(parse("/ad"), Ok(Command::CreateAddress));
    assert_eq!(parse("/address"), Ok(Command::CreateAddress));
    assert_eq!(parse("/sa"), Ok(Command::ShowAddress));
    assert_eq!(parse("/da"), Ok(Command::DeleteAddress));
    assert_eq!(parse("/ac bob"), Ok(Command::Accept("bob".into())));
    assert_eq!(parse("/ac @bob"), Ok(Command::Accept("bob".into())));
    assert_eq!(parse("/rc bob"), Ok(Command::Reject("bob".into())));
    assert_eq!(parse("/contacts"), Ok(Command::Contacts));
    assert_eq!(parse("/d bob"), Ok(Command::Delete("bob".into())));
    assert_eq!(parse("/delete @bob"), Ok(Command::Delete("bob".into())));
    assert_eq!(parse("/p"), Ok(Command::ShowProfile));
    assert_eq!(
        parse("/p alice2"),
        Ok(Command::UpdateProfile("alice2".into()))
    );
    assert_eq!(
        parse("/tail"),
        Ok(Command::Tail {
            name: None,
            count: 10
        })
    );
    assert_eq!(
        parse("/tail @bob 5"),
        Ok(Command::Tail {
            name: Some("bob".into()),
            count: 5
        })
    );
    assert_eq!(
        parse("/t 3"),
        Ok(Command::Tail {
            name: None,
            count: 3
        })
    );
    assert_eq!(parse("/help"), Ok(Command::Help));
    assert_eq!(parse("/q"), Ok(Command::Quit));
    let sync = |n: &str, force| {
        Ok(Command::Sync {
            name: n.into(),
            force,
        })
    };
    assert_eq!(parse("/sync bob"), sync("bob", false));
    assert_eq!(parse("/sync @bob"), sync("bob", false));
    assert_eq!(parse("/sync 'bob b' force=on"), sync("bob b", true));
    assert_eq!(
        parse("/sync #team bob"),
        Ok(Command::Unsupported("/sync #team".into()))
    );
    assert!(parse("/sync").is_err());
    assert_eq!(parse("/i bob"), Ok(Command::Info("bob".into())));
    assert_eq!(parse("/switch @bob"), Ok(Command::Switch("bob".into())));
    assert_eq!(
        parse("/abort switch bob"),
        Ok(Command::AbortSwitch("bob".into()))
    );
    assert_eq!(
        parse("/switch #team bob"),
        Ok(Command::Unsupported("/switch #team".into()))
    );
    assert_eq!(
        parse("/switch remote host local"),
        Ok(Command::Unsupported("/switch remote".into()))
    );
    assert!(parse("/abort bob").is_err());
    assert_eq!(parse("/info @bob"), Ok(Command::Info("bob".into())));
    assert_eq!(parse("/i #team"), Ok(Command::GroupInfo("team".into())));
    assert_eq!(
        parse("just text"),
        Ok(Command::Continue("just text".into()))
    );
}

/// One line of every form of the reference's `chatCommandP` (user-facing and API).
const REFERENCE_FORMS: &[&str] = &[
    "/mute @bob",
    "/unmute #team",
    "/unmute mentions #team",
    "/receipts @bob on",
    "/block #team @bob",
    "/unblock #team @bob",
    "/_create user {}",
    "/create user bob",
    "/users",
    "/_user 1",
    "/user bob",
    "/u bob",
    "/set receipts all on",
    "/_set receipts contacts 1 on",
    "/set receipts contacts on",
    "/set receipts groups off",
    "/_hide user 1 {}",
    "/hide user pwd",
    "/unhide user pwd",
    "/mute user",
    "/unmute user",
    "/_delete user 1 del_smp=on",
    "/delete user bob",
    "/user",
    "/u",
    "/_start",
    "/_stop",
    "/_app activate",
    "/_resubscribe all",
    "/files_folder /tmp",
    "/remote_hosts_folder /tmp",
    "/set file paths {}",
    "/contact_merge on",
    "/db export",
    "/db encrypt key",
    "/db key a b",
    "/db decrypt key",
    "/db test key k",
    "/sql slow",
    "/sql chat select 1",
    "/sql agent select 1",
    "/_get chats 1",
    "/_send @1 text hi",
    "/report #team @bob spam hi",
    "/_read chat @1",
    "/read user",
    "/_delete @1",
    "/_accept 1",
    "/_reject 1",
    "/call @bob",
    "/call bob",
    "/_profile 1 {}",
    "/smp test smp://a@b",
    "/xftp test xftp://a@b",
    "/ntf test ntf://a@b",
    "/smp smp://a@b",
    "/xftp",
    "/smp",
    "/operators 1:on",
    "/ttl day",
    "/ttl",
    "/ttl @bob week",
    "/network socks=off",
    "/net",
    "/reconnect",
    "/reconnect 1 smp://a@b",
    "/info #team @bob",
    "/i #team",
    "/info @bob",
    "/i bob",
    "/queue info @bob",
    "/qi #team @bob",
    "/switch #team @bob",
    "/switch @bob",
    "/abort switch @bob",
    "/sync @bob",
    "/sync #team @bob force=on",
    "/code @bob",
    "/code #team @bob",
    "/verify @bob 123",
    "/verify #team @bob",
    "/enable @bob",
    "/enable #team @bob",
    "/help files",
    "/hf",
    "/help groups",
    "/hg",
    "/hc",
    "/ha",
    "/hi",
    "/hm",
    "/hr",
    "/hs",
    "/hd",
    "/help",
    "/h",
    "/group #team",
    "/g team",
    "/g i #team",
    "/add #team @bob",
    "/a team bob admin",
    "/join #team",
    "/j team",
    "/accept member #team @bob",
    "/member role #team @bob admin",
    "/mr #team @bob member",
    "/block for all #team @bob",
    "/unblock for all #team @bob",
    "/remove #team @bob",
    "/rm team bob",
    "/leave #team",
    "/l team",
    "/delete #team",
    "/d #team",
    "/delete @bob",
    "/d bob",
    "/delete bob full",
    "/clear *",
    "/clear #team",
    "/clear @bob",
    "/members #team",
    "/ms team",
    "/member support chats #team",
    "/groups",
    "/gs",
    "/group_profile #team new",
    "/gp team",
    "/group_descr #team hi",
    "/set welcome #team hi",
    "/delete welcome #team",
    "/show welcome #team",
    "/create link #team",
    "/set link role #team member",
    "/delete link #team",
    "/show link #team",
    ">#team (quote) reply",
    "> #team @bob (quote) reply",
    "/_contacts 1",
    "/contacts",
    "/_connect plan 1 link",
    "/connect",
    "/c",
    "/c i",
    "/connect incognito",
    "/c https://simplex.chat/invitation#/?v=2",
    "/c i https://simplex.chat/contact#/?v=2",
    "@bob <- @alice hi",
    "#team <- @alice hi",
    "@bob <- #team @alice hi",
    "@bob <- #team hi",
    "* <- * hi",
    "@bob hi",
    "#team hi",
    "/* a note",
    "@#team @bob hi",
    "/live @bob hi",
    ">@bob (hi) reply",
    "> @bob (hi) reply",
    ">>@bob (mine) again",
    ">> @bob (mine) again",
    "\\ @bob hi",
    "\\@bob hi",
    "\\\\ #team @bob hi",
    "! @bob (old) new",
    "!@bob new",
    "! 1 edited",
    "\\ 1",
    "+1 @bob hi",
    "-1 bob hi",
    "+) #team hi",
    "+1",
    "/feed hi all",
    "/chats",
    "/cs all",
    "/tail",
    "/t @bob 5",
    "/tail #team",
    "/t * 3",
    "/search @bob hi",
    "/? hi",
    "/last_item_id",
    "/show",
    "/show on",
    "/show 5",
    "/item info @bob hi",
    "/file @bob /tmp/x",
    "/f bob /tmp/x",
    "/f …",
    "/image @bob /tmp/x.jpg",
    "/img bob x.png",
    "/fforward @bob 1",
    "/ff bob 1",
    "/image_forward @bob 1",
    "/imgf bob 1",
    "/fdescription @bob x",
    "/fd bob x",
    "/freceive 1",
    "/fr 1 /tmp",
    "/fcancel 1",
    "/fc 1",
    "/fstatus 1",
    "/fs 1",
    "/simplex",
    "/simplex i",
    "/address",
    "/ad",
    "/delete_address",
    "/da",
    "/show_address",
    "/sa",
    "/profile_address on",
    "/pa off",
    "/auto_accept on",
    "/accept bob",
    "/ac @bob",
    "/ac i bob",
    "/accept incognito bob",
    "/reject bob",
    "/rc @bob",
    "/markdown",
    "/m",
    "/welcome",
    "/w",
    "/set profile image data:image/png;base64,AA",
    "/delete profile image",
    "/show profile image",
    "/profile bob",
    "/p bob",
    "/p bob my bio",
    "/profile",
    "/p",
    "/set voice #team on",
    "/set voice @bob yes",
    "/set voice yes",
    "/set files #team off",
    "/set history #team on",
    "/set reactions #team on",
    "/set calls @bob no",
    "/set calls yes",
    "/set delete #team on",
    "/set delete @bob always",
    "/set delete no",
    "/set direct #team off",
    "/set disappear #team on day",
    "/set disappear @bob yes",
    "/set disappear yes",
    "/set reports #team on",
    "/set links #team on",
    "/set admission review #team all",
    "/incognito",
    "/incognito on",
    "/set device name pc",
    "/list remote hosts",
    "/switch remote host local",
    "/start remote host new",
    "/stop remote host new",
    "/delete remote host 1",
    "/store remote file 1 /tmp/x",
    "/get remote file 1 {}",
    "/connect remote ctrl xrcp://a",
    "/crc xrcp://a",
    "/find remote ctrl",
    "/confirm remote ctrl 1",
    "/verify remote ctrl 123",
    "/list remote ctrls",
    "/stop remote ctrl",
    "/delete remote ctrl 1",
    "/_upload 1 /tmp/x",
    "/_download info x",
    "/quit",
    "/q",
    "/exit",
    "/version",
    "/v",
    "/debug locks",
    "/debug event {}",
    "/get subs total 1",
    "/get servers summary 1",
    "/reset servers stats",
    "/get subs",
    "/get subs details",
    "/get workers",
    "/get workers details",
    "/get queues",
    "//custom thing",
];

#[test]
fn every_reference_form_is_recognised_never_sent_as_text() {
    for l in REFERENCE_FORMS {
        match parse(l) {
            Ok(Command::Continue(_)) => panic!("{l:?} would be sent to the last chat"),
            Ok(_) => {}
            Err(e) => panic!("{l:?} is not recognised: {e}"),
        }
    }
    // Whatever follows a reference command word, the line never leaves as text.
    for w in REFERENCE_COMMANDS {
        for l in [
            w.to_string(),
            format!("{w} x"),
            format!("{w} #x y"),
            format!("{w} @x y"),
        ] {
            assert!(
                !matches!(parse(&l), Ok(Command::Continue(_))),
                "{l:?} would be sent to the last chat"
            );
        }
    }
}

#[test]
fn forms_we_lack_are_named_and_text_stays_text() {
    let un = |s: &str| Ok(Command::Unsupported(s.into()));
    assert_eq!(parse("> @bob (hi) reply"), un("replies"));
    assert_eq!(parse("! 1 edited"), un("message editing"));
    assert_eq!(parse("\\ 1"), un("message deletion"));
    assert_eq!(parse("+1"), un("reactions"));
    assert_eq!(parse("-1 @bob hi"), un("reactions"));
    assert_eq!(parse("/f …"), un("/f"));
    assert_eq!(parse("@bob <- @alice hi"), un("forwarding"));
    assert_eq!(parse("@#team @bob hi"), un("messages to group members"));
    assert_eq!(parse("/c i"), un("/c i"));
    assert_eq!(parse("/delete user bob"), un("/delete user"));
    assert_eq!(parse("/_send @1 text hi"), un("/_send"));
    assert_eq!(parse("/v"), Ok(Command::Version));
    assert_eq!(parse("/help files"), Ok(Command::Help));
    for text in [
        "hi there",
        "- a list item",
        "--- hr",
        "*bold* text",
        ":) smile",
        "3 + 4",
        "?",
        "a/b",
    ] {
        assert_eq!(parse(text), Ok(Command::Continue(text.into())), "{text:?}");
    }
}

#[test]
fn bad_lines_are_errors() {
    for l in [
        "",
        "@",
        "@bob",
        "@bob ",
        "/x",
        "/ac",
        "/ac a b",
        "/tail @bob x",
        "/cx",
        "/da now",
        "@'bob hi",
        "/_connect plan x https://smp.example/i#abc",
        "/_connect plan 1",
        "/pq @bob maybe",
    ] {
        assert!(parse(l).is_err(), "{l:?} should not parse");
    }
}
