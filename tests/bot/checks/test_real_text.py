"""The checks on replies phrased as people write them: each class of false alarm and of miss."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from bot.checks.detector import Detector
from bot.core.config import DetectorsConfig, RuleConfig
from bot.core.records import Customer, KbArticle, ReplyRecord

T0 = dt.datetime(2027, 2, 9, 15, 0, tzinfo=dt.UTC)
PLANS = ["Free", "Basic", "Pro", "Team", "Enterprise"]
DETECTOR = Detector(DetectorsConfig(plans=PLANS))
PRIYA = Customer(id="C-7", name="Priya Raman", email="priya@example.test", plan="Basic")


def record(text: str, *, rid: str = "R-1", customer: Customer = PRIYA, **kw: Any) -> ReplyRecord:
    return ReplyRecord(
        id=rid, ticket_id=kw.pop("ticket_id", "T-1"), created_at=T0, reply=text, customer=customer, **kw
    )


def found(text: str, detector: Detector = DETECTOR, **kw: Any) -> dict[str, dict]:
    return {f.kind: f.evidence for f in detector.check(record(text, **kw))}


# -- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kw"),
    [
        ("Hi, Thanks so much for the quick reply.\n\nYour export is ready.", {}),
        ("Hello, Apologies for the wait on this one.", {}),
        ("Good evening, Happy New Year! Your card has been updated.", {}),
        ("Hey, Tomasz from the payments team here. I've reversed the fee.", {}),
        ("Hi there! Thanks for bearing with us, Priya.", {}),
        ("@priya_r @acmehelp Hi Priya, the outage is over now.", {}),
        ("Hi Priya and Deniz,\n\nBoth of you now have admin rights.", {}),  # a colleague copied in
        ("Hi Priya Raman,\n\nDone.", {"customer": Customer(name="Priya")}),  # first name only on file
        ("Hi Alex,\n\nDone.", {"customer": Customer(name="Alexandra Novak")}),  # a short form
        (
            "Hi Bob,\n\nThe seats are added.",
            {
                "customer": Customer(name="Robert Lindqvist"),
                "customer_message": "Can you add two seats to our workspace?\n\nCheers,\nBob",
            },
        ),
        (
            "Hi Deniz,\n\nI've sent the invoice to you.",
            {"customer_message": "Please send the invoice to my colleague Deniz, who runs our accounts."},
        ),
        ("Hi Sam,\n\nYour ticket is closed.", {"customer": Customer(name="Visitor 30917")}),
        ("Hi Sam,\n\nYour ticket is closed.", {"customer": Customer(name="Northwind Traders Ltd")}),
        ("Hi Sam,\n\nYour ticket is closed.", {"customer": Customer(id="kai_dev42", name="kai_dev42")}),
        ("Hi Sam,\n\nYour ticket is closed.", {"customer": Customer(id="zorblax", name="zorblax")}),
        ("Hi Acme team,\n\nYour invoices are attached.", {}),
        ("Dear Support Team,\n\nThis is a test.", {}),
        ("Happy Monday, everyone! The release is out.", {}),
        ("Thanks for waiting, Champ 🙌 the sync fix is live.", {}),  # a term of address
        ("Greetings, Captain! Your ship is back in the hangar.", {}),
        # usual nicknames of the name on file, which need not start like it
        ("Hi Peggy, the refund is through.", {"customer": Customer(name="Margaret Olsen")}),
        ("Hey Ted! Your badge is printed.", {"customer": Customer(name="Edward Mills")}),
        ("Morning Jim, the invoice is attached.", {"customer": Customer(name="James Ortega")}),
        ("Hi Ronald, the invoice is attached.", {"customer": Customer(name="Ronnie Ortega")}),  # either way
        # a name on file in another script, greeted in Latin letters (romanised, spellings vary)
        ("Hi Yulia, your parcel is at the depot.", {"customer": Customer(name="Юлия Смирнова")}),
        ("Hi Wei, the invoice is attached.", {"customer": Customer(name="王伟")}),
        ("Dear Mohammed, your appointment is booked.", {"customer": Customer(name="محمد علي")}),
        ("Здравствуйте, Elena! Заказ отправлен.", {"customer": Customer(name="Elena Popova")}),
        # a name (as on file) before a dash or an emoji, a title with its full stop
        ("Thanks a lot, Priya — the export has finished.", {}),
        ("Hey Priya 🎉 your account is upgraded.", {}),
        ("Sorry for the delay, Ms. Raman. The parcel left today.", {}),
        ("Glad it worked, Dr. Raman — ping us any time.", {}),
        ("Priya, thank you for the logs. The crash is fixed.", {}),  # the name opens the reply
        ("Priya — so sorry about the double charge. It's refunded now.", {}),
        ("Will: thanks for your patience, the refund went out.", {"customer": Customer(name="William Ng")}),
        ("Perfect — thanks! The export is done.", {}),  # a word that is no given name
        ("True, sorry — that page was out of date. It's fixed now.", {}),  # a name somewhere, a word here
        ("The refund is out. Anything else I can help with, Priya?", {}),  # the customer, at the end
        ("The refund is out. Have a great weekend!\n\nThanks again,\nKevin", {}),  # the writer's sign-off
        ("Hi Priya, the refund is out. Let me know if that helps, and say hi to Marcus!", {}),
        ("The parcel is in Leeds. Hope you enjoy it in Georgia.", {}),  # a place
        ("Sad, indeed. The export should have worked.", {}),  # a word one list calls a name
        ("Rice, beans and cheese are in the bowl; the order is fixed.", {}),
        ("Hi J.R.,\n\nYour booking is confirmed.", {"customer": Customer(name="Jonathan Robert Whitfield")}),
        ("Bonjour Monsieur Raman, votre bagage est localisé.", {}),  # titles in other languages
        ("Gentile Sig.ra Raman, la prenotazione è confermata.", {}),
        ("Oi Priya! Seu pedido já foi enviado.", {}),  # greetings in other languages
        ("Merci, votre remboursement est en route.", {}),  # a greeting word, not a name
        ("Your export is ready.\n\nAll the best, Kevin.", {}),  # the writer's sign-off
        ("Your export is ready. Take care, Kevin.", {}),
        ("Summer, thanks to the new rota, is fully staffed.", {}),
        ("Again, sorry for the trouble. The export is done.", {}),
        ("Kevin here — thanks for waiting. The export is done.", {}),  # the agent's own name
        ("Kevin, our billing lead, has refunded the charge.", {}),  # named, not thanked
        ("Unfortunately, thanks to a bug, the export failed.", {}),  # an adverb, not a name
        ("Dropbox, thanks to its selective sync, only downloads what you open.", {}),  # because of
        ("Phew, glad that worked! Anything else?", {}),  # an interjection opening the reply
        ("Dear Mr. and Mrs. Raman,\n\nYour booking is confirmed.", {}),  # two titles, one surname
        ("Guten Tag Frau Dr. Raman, Ihr Termin steht.", {}),  # a chain of titles
        ("Bonjour M. Raman, votre rapport est disponible.", {}),  # M. for Monsieur
        ("Hi Raman-san, the invoice is corrected.", {}),  # an honorific after the surname
        ("Dear Priya Ji, your policy is renewed.", {}),
        ("Dear Ma'am,\n\nYour complaint is registered.", {}),
        ("Dear Raman Family,\n\nYour passes are attached.", {}),
        ("So sorry your luggage stayed in Lisbon, Portugal. It arrives tomorrow.", {}),  # a place
        ("Thanks, Deniz! I'll take it from here.\n\nHi Priya, the refund is on its way.", {}),  # a handover
        (
            "Hi Tomas, your mother's card is unblocked.",
            {"customer_message": "My mother's card is blocked.\n\nThanks,\nTomas Berg (her son)"},
        ),
        (
            "Hi Ines, the invoice address is updated.",
            {"customer_message": "Please update it.\n\nBest,\nInes Duarte\nHead of Finance\nNorthwind Ltd"},
        ),
        (
            "Hi Ruth, the link is resent.",
            {"customer_message": "The link expired.\n\nRuth\n\nGet Outlook for Android"},
        ),
        (
            "Hi Karim, I've sent the quote over.",
            {"customer_message": "Karim (our buyer) will need the quote today."},
        ),
        ("Sorry for the outage, Oct–Nov invoices are being re-sent today.", {}),  # a range, not a name
        ("The refund is out.\n\nThanks for your patience,\nOskar", {}),  # the writer's sign-off
        ("The refund is out. All the best, Oskar.", {}),  # may be a sign-off
        # usual short forms in other languages (given_names.WORLD_NICKNAMES)
        ("Hi Sasha, your refund is on the way.", {"customer": Customer(name="Aleksandra Volkova")}),
        ("Hola Pepe, tu pedido ya salió.", {"customer": Customer(name="José Ramírez")}),
        ("Cześć Gosia, zamówienie wysłane.", {"customer": Customer(name="Małgorzata Nowak")}),
        ("Ciao Beppe, il rimborso è partito.", {"customer": Customer(name="Giuseppe Verdi")}),
        # signed at the end of a one-line message, in any case
        (
            "Hi Tobi,\n\nThe compensation is £520.",
            {
                "customer": Customer(name="Oluwatobi Fashola"),
                "customer_message": "My flight was delayed 5 hours. Am I owed compensation? Tobi",
            },
        ),
        (
            "Hi Aziz! The limit resets tomorrow.",
            {
                "customer": Customer(name="Abdulaziz Al-Harbi"),
                "customer_message": "why can't i add friends?? aziz",
            },
        ),
        (
            "Hallo Steffi! Die Adresse ist geändert.",
            {
                "customer": Customer(name="Stefanie Braun"),
                "customer_message": "Wir sind umgezogen. LG Steffi",
            },
        ),
        ("Hi Tunde,\n\nHere's what each tier includes.", {"customer": Customer(name="Babatunde Alade")}),
        ("Hi Ola, the replacement ships today.", {"customer": Customer(name="Aleksandra Zielińska")}),
        ("Merhaba Ayşe Hanım,\n\nAdresiniz güncellendi.", {"customer": Customer(name="Ayşe Yılmaz")}),
        ("مرحباً لينا،\n\nتم تفعيل حسابك.", {"customer": Customer(name="Lina Haddad")}),  # لينا is Lina
        ("عزيزتي مريم،\n\nتم تحديث العنوان.", {"customer": Customer(name="مريم السعدي")}),
        ("عزيزي السيد أحمد،\n\nتم الشحن.", {"customer": Customer(name="أحمد علي")}),
        ("さくら様\n\nお問い合わせありがとうございます。", {"customer": Customer(name="松本 さくら")}),
        (
            "Dear Mr. bin Abdullah,\n\nYour invoice is attached.",
            {"customer": Customer(name="Ibrahim bin Abdullah")},
        ),
        (
            "Hi Deniz,\n\nI've sent the invoice to you. Thanks, Deniz!",
            {"customer_message": "Please send the invoice to my colleague Deniz, who runs our accounts."},
        ),  # the colleague written to, and thanked again
        # East Asian names with their honorifics: the surname, the given name, the whole name
        # written without a space; the customer in general; scripts that cannot be compared
        *[
            (text, {"customer": Customer(name=name)})
            for text, name in [
                ("鈴木様\n\nいつもお世話になっております。", "鈴木 一郎"),
                ("鈴木一郎様\n\nいつもお世話になっております。", "鈴木 一郎"),
                ("一郎さん、こんにちは。", "鈴木一郎"),
                ("お客様\n\nいつもご利用いただきありがとうございます。", "鈴木 一郎"),
                ("皆様、いつもありがとうございます。", "鈴木 一郎"),
                ("鈴木様\n\nいつもお世話になっております。", "Ichiro Suzuki"),  # Han is not read as Latin
                ("山田様\n\nいつもお世話になっております。", "ヤマダ タロウ"),  # kana of the same name
                ("김민준 고객님, 안녕하세요.", "김민준"),
                ("안녕하세요, 민준 님. 키를 발급했습니다.", "김민준"),
                ("고객님, 안녕하세요.", "김민준"),
                ("王先生，您好！您的发票已发送。", "Wei Wang"),
            ]
        ],
        (
            "Hi Katya,\n\nDone: your currency is EUR.",
            {
                "customer": Customer(name="Ekaterina Smirnova"),
                "customer_message": "Please switch our currency to EUR. Thanks! Katya (Ekaterina Smirnova)",
            },
        ),  # the message signed with the name she goes by
        # a nickname the list pairs with a different full name is no short form of it
    ],
)
def test_names_not_flagged(text: str, kw: dict) -> None:
    assert "name_mismatch" not in found(text, **kw)


@pytest.mark.parametrize(
    ("text", "greeted", "kw"),
    [
        ("Evening Oskar! Your new card is on its way.", "Oskar", {}),
        ("@priya_r @acmehelp Hey Oskar, the outage is over now.", "Oskar", {}),
        ("Really sorry about the mix-up, Oskar. We've refunded you.", "Oskar", {}),
        ("Dear Ms. Lindgren,\n\nYour SSO settings are saved.", "Lindgren", {}),
        (
            "Hi Jess,\n\nI've checked your invoice.",
            "Jess",
            {"customer_message": "Hi Jess, my invoice is wrong."},
        ),
        ("Hi Oskar,\n\nDone.", "Oskar", {"customer": Customer(name="Priya")}),
        ("Apologies for the confusion, Oskar — the fee is reversed.", "Oskar", {}),
        ("Hi Oskar 😊 the fix went out today.", "Oskar", {}),
        ("Thanks, Deniz! I'll take it from here.\n\nHi Oskar, the refund is on its way.", "Deniz", {}),
        ("Many thanks, Mr. Lindqvist. Your claim is approved.", "Lindqvist", {}),
        ("Kevin — thanks for your patience, the refund went out.", "Kevin", {}),  # a name opens it
        ("Julia, so sorry about the double charge. It's refunded now.", "Julia", {}),
        ("@priya_r Marcus: thanks for the DM, the link is reset.", "Marcus", {}),
        ("Jorge — thanks for the screenshots, the sync is fixed.", "Jorge", {}),  # names of any country
        ("Björn, so sorry for the wait. The refund went out.", "Björn", {}),
        ("The refund is out. Anything else I can help with, Kevin?", "Kevin", {}),  # a closing address
        ("Hi Priya, the refund is out. Have a great weekend, Kevin!", "Kevin", {}),
        ("Samantha, the export is ready now, under Reports.", "Samantha", {}),  # a name, then a sentence
        ("We've rebooked the visit.\n\nThanks again, Margaret, and sorry for the hassle.", "Margaret", {}),
        ("Oi Fernanda! Seu pedido já foi enviado.", "Fernanda", {}),
        ("Merci Chloé, c'est corrigé !", "Chloé", {}),
        ("Beste Femke, je nieuwe pas is verstuurd.", "Femke", {}),
        ("Hi Peggy, the refund is through.", "Peggy", {"customer": Customer(name="Edward Mills")}),
        ("Hello Ellen, the booking moved to noon.", "Ellen", {"customer": Customer(name="Helen Shaw")}),
        ("Hi Emma, your badge is ready.", "Emma", {"customer": Customer(name="Emily Stone")}),
        ("Hi Maria, your parcel is at the depot.", "Maria", {"customer": Customer(name="Юлия Смирнова")}),
        ("Hi Aydan, the refund is out.", "Aydan", {"customer": Customer(name="Aydın Yılmaz")}),  # both Latin
        ("Samantha, your refund went through, so you're all set.", "Samantha", {}),
        ("Cheers for your patience, Oskar — I've switched your bill to paperless.", "Oskar", {}),
        ("Hi Li, the invoice is attached.", "Li", {"customer": Customer(name="王伟")}),
        (
            "Hello,\n\nThe sync is back.\n\nThanks again for your patience, Oskar. Let me know if"
            " anything looks off.\n\nMika",
            "Oskar",
            {},
        ),  # a closing address with a full stop: thanks *for* something
        ("Hello,\n\nThe fee is reversed.\n\nApologies for the trouble, Oskar.", "Oskar", {}),
        ("¡Hola Oskar! Ya reactivamos tu línea.", "Oskar", {}),
        ("Hello,\n\nThe invoices are re-sent.\n\nReally appreciate your patience, Oskar!", "Oskar", {}),
        (
            "Merhaba Elif Hanım,\n\nAdresiniz güncellendi.",
            "Elif Hanım",
            {"customer": Customer(name="Ayşe Yılmaz")},
        ),
        ("عزيزتي هند،\n\nتم تحديث العنوان.", "هند", {"customer": Customer(name="مريم السعدي")}),
        ("森様\n\nお問い合わせありがとうございます。", "森", {"customer": Customer(name="松本 さくら")}),
        (
            "Dear Mr. bin Khalid,\n\nYour invoice is attached.",
            "bin Khalid",
            {"customer": Customer(name="Ibrahim bin Abdullah")},
        ),
        (
            "Hi Ifeoma,\n\nI've given Ifeoma admin rights, so she can manage billing.",
            "Ifeoma",
            {"customer_message": "Please make my colleague Ifeoma an admin. Thanks, Priya"},
        ),  # the colleague asked about, greeted instead of the customer and then spoken of
        ("Hi Sasha, your refund is on the way.", "Sasha", {"customer": Customer(name="Ekaterina Smirnova")}),
        ("田中様\n\nいつもお世話になっております。", "田中", {"customer": Customer(name="鈴木 一郎")}),
        (
            "이서연 님, 안녕하세요. 요청하신 키를 발급했습니다.",
            "이서연",
            {"customer": Customer(name="김민준")},
        ),
        ("尊敬的李先生：您好！您的发票已发送。", "李", {"customer": Customer(name="王伟")}),
    ],
)
def test_names_flagged(text: str, greeted: str, kw: dict) -> None:
    evidence = found(text, **kw)["name_mismatch"]
    assert evidence["greeted"] == greeted
    assert evidence["sentence"][1] == greeted


# -- placeholders ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kw"),
    [
        (
            "Sorry about that: the {{contact.first}} in our last email should have been your name.",
            {"customer_message": "Your email started with 'Hello {{contact.first}}', is that a bug?"},
        ),
        ("To personalise the subject line, type {{first_name}} where the name should appear.", {}),
        ("The *|FNAME|* merge tag fills in each subscriber's first name.", {}),
        ('Write "{{ order.number }}" in the template and it shows the order number.', {}),
        ("Open a terminal and run: export PATH=$HOME/bin:${PATH}", {"channel": "irc"}),
        ("Delete everything in %TEMP% and start the installer again.", {}),
        ("Enter your code, then press [ENTER].", {}),
        ("Hit [CTRL]+[SHIFT]+[R] to reload the page.", {}),
        ("Fill in the [Display Name] field and save.", {}),
        ("Click [Account Number] under Billing to copy it.", {}),
        ("[SOLVED] The sync error came from an expired token; reconnecting fixed it.", {}),
        ("Thread status: [RESOLVED]. Reopen it any time if the crash comes back.", {}),
        ("[Update] Engineering shipped the fix this morning, so exports work again.", {}),
        ("Set $JAVA_HOME and $LD_LIBRARY_PATH before you start it.", {}),
        ("The $CONTACT_FIRST_NAME variable holds the contact's first name.", {}),
        ("Put [first name] anywhere in the template and each email gets its reader's name.", {}),
        ("Reports are saved as acme-report-[date].pdf in your Downloads folder.", {}),
        ("Our form sends the fields as lead[email] and lead[phone].", {}),
        ("Please use the reference ORD-[number] on the bank transfer.", {}),
        (
            "> [EXTERNAL SENDER] Be careful with links.\n\nYour mail server adds that banner.",
            {},
        ),
        ("Until the logo is uploaded, the invoice header just says [COMPANY NAME].", {}),
        ("The deploy reads $AWS_REGION and $STRIPE_API_KEY from the environment.", {}),
        ("Your card now shows as [REDACTED] in the thread, for your safety.", {}),
        ("The [WARN] lines are harmless; the [ERROR] one is the real failure.", {}),
        ("Wrap the snippet in [code] tags so the forum keeps its spacing.", {}),  # one word: a tag
        ("Open the [Account Manager] tab and pick a colleague.", {}),  # an interface label
        ("Point %OneDrive% at the new folder, then restart the client.", {}),
        ("Replace {YOUR_TOKEN} with the token from your settings page.", {}),
        ('Try it from a terminal:\ncurl -H "Authorization: Bearer {token}" https://api.example.test/me', {}),
        ("The bug is in this line:\n\n    print(f'done for {account_id}')\n\nMove it after the loop.", {}),
        ("Refund done.\n\nFrom: Ops Desk\nSent: Monday\nSubject: Hello {{first_name}}", {}),  # quoted
        (
            "Here is a message you can forward to your team:\n\nHi [Name], the portal moves on Monday.",
            {},
        ),  # a text offered to the customer to fill in
        ("A template for your newsletter:\n\nHello {{first_name}}, spring is here!", {}),
        ("In the component, {{ order.total }} renders empty until the order loads.", {}),
        (
            "Insert a merge tag like {{first_name}} in the subject. With no first name on file, set a"
            ' fallback: {{first_name | default: "there"}}.',
            {},
        ),  # the variable the reply explains, used again
        ("- [X] Export finished\n- [ ] Import pending", {}),  # a ticked box
        ("Para personalizar el saludo, escribe {{first_name}} en el asunto.", {}),  # explained, in Spanish
        ('The printf format "%s: %d items" expects a string, then an integer.', {}),  # about printf
        ("Disk usage is at 100%s of quota? No: 100%, so we raised it.", {}),
        ("The column name is CUSTOMER_ID in the export.", {}),
        ("Set CLIENT_ID and CLIENT_SECRET in your .env file.", {}),
        ("See the [link to our docs](https://docs.example.test/start).", {}),
        ("Wrap the value in <b> tags, or use <br/> for a new line.", {}),  # HTML tags
        (
            "Sorry, the email went out with *|FNAME|* instead of your name.",
            {"customer_message": "Why does your newsletter say FNAME instead of my name?"},
        ),
    ],
)
def test_placeholders_not_flagged(text: str, kw: dict) -> None:
    assert "placeholder_leak" not in found(text, **kw)


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("Your tracking code is %%SHIPMENT_ID%%.", "%%SHIPMENT_ID%%"),
        ("Hi *|FNAME|*, your trial ends soon.", "*|FNAME|*"),
        ("Dear {!Contact.FirstName}, thanks for your order.", "{!Contact.FirstName}"),
        ("Hi [name], your parcel has left the depot.", "[name]"),
        ("We have credited <%= credit_amount %> to your wallet.", "<%= credit_amount %>"),
        ("Hey ${customer_first}, the fix is live.", "${customer_first}"),
        ("Your reference is %ORDER_REF%.", "%ORDER_REF%"),
        ("Hello [FNAME], the replacement ships on Monday.", "[FNAME]"),
        ("Your [PLAN] subscription renews next week.", "[PLAN]"),
        ("Your courier will call [CUSTOMER PHONE NUMBER] before delivery.", "[CUSTOMER PHONE NUMBER]"),
        ("We sent the receipt to [billing email] a minute ago.", "[billing email]"),
        ("A credit of [amount] is on your next invoice.", "[amount]"),
        ("Dear $CONTACT_FIRST_NAME, the repair is booked.", "$CONTACT_FIRST_NAME"),
        (
            "Your courier is [Insert courier name here] and the parcel arrives Friday.",
            "[Insert courier name here]",
        ),
        ("I've passed this on to [Name] in our finance team.", "[Name]"),
        ("Use code [promo code] at checkout for 20% off.", "[promo code]"),
        ("Your order [ORDER #] has shipped.", "[ORDER #]"),
        ("Your account manager, [Account Manager], will call you.", "[Account Manager]"),
        ("Hi FIRSTNAME,\n\nYour parcel has left.", "FIRSTNAME"),  # a field's name as the greeting
        ("Your refund went out.\n\nFrom: {{agent_name}}", "{{agent_name}}"),  # no quoted header
        ("We've fixed it: you can now log in.\n\nThanks, {{agent_name}}", "{{agent_name}}"),  # no offer
        ("Your confirmation number is <CONFIRMATION_NUMBER>.", "<CONFIRMATION_NUMBER>"),
        ("Your payment of <AMOUNT> was received.", "<AMOUNT>"),
        ("Hey %s, your game key has been re-sent!", "%s"),
        ("Your booking reference is {0} and your pick-up is at Terminal 5.", "{0}"),
        ("Follow the incident updates here: <insert status page link>.", "<insert status page link>"),
        ("Dear __CUSTOMER_NAME__, the export is ready.", "__CUSTOMER_NAME__"),
        ("Your photo is live! Good luck out there, $first_name 💫", "$first_name"),
        ("We've added a $XX credit to your account.", "$XX"),
        (
            "You can use these steps:\n1. Export\n\nThanks,\n{{agent_name}}",
            "{{agent_name}}",
        ),  # no text offered
        ("Here is the draft invoice summary:\nTotal: {{invoice_total}}", "{{invoice_total}}"),
        (
            "In the template editor, the {{contact.first_name}} merge tag works."
            " Your rep is {{contact.owner_name}}.",
            "{{contact.owner_name}}",
        ),  # another variable than the one explained
        ("O reembolso de R$ [VALOR] será creditado em 7 dias.", "[VALOR]"),
        ("Tu pedido llegará el [fecha de entrega]. ¡Gracias!", "[fecha de entrega]"),
        ("Storage is now [X] GB. Let us know if you need more.", "[X]"),
        ("I've opened an incident for you: INSERT_TICKET_LINK_HERE.", "INSERT_TICKET_LINK_HERE"),
        ("Your agent is AGENT_NAME_HERE, who will call today.", "AGENT_NAME_HERE"),
        ("Your tracking number is TRACKING_NUMBER, on the courier's site.", "TRACKING_NUMBER"),
        ("Set a new password with this link: [Reset your password](RESET_URL).", "RESET_URL"),
        ("I've attached the guide: [link to KB article]", "[link to KB article]"),
        ("عزيزي [اسم العميل]، تم تأكيد طلبك.", "[اسم العميل]"),
        ("Puedes seguir el envío aquí: [ENLACE DE SEGUIMIENTO]", "[ENLACE DE SEGUIMIENTO]"),
        ("Numer przesyłki: [NUMER_PRZESYŁKI]. Dziękujemy.", "[NUMER_PRZESYŁKI]"),
        ("Halo Kak [Nama Pelanggan]! Pesanan sudah kami terima.", "[Nama Pelanggan]"),
        ("尊敬的XX先生：您好！您的密码已重置。", "XX"),
        ("OOO 고객님, 안녕하세요. 상품이 출고되었습니다.", "OOO"),
        ("We've refunded %(refund_amount)s to your original payment method.", "%(refund_amount)s"),
        ("〇〇様\n\nいつもご利用いただきありがとうございます。", "〇〇"),
        ("The full helper reference is in our guide [here]([LINK]).", "[LINK]"),
        (
            "Add the settings in the app.\n\n[TODO: add Android steps]\n\nHappy building",
            "[TODO: add Android steps]",
        ),
    ],
)
def test_placeholders_flagged(text: str, tag: str) -> None:
    evidence = found(text)["placeholder_leak"]
    assert evidence["placeholder"] == tag
    assert evidence["sentence"][1] == tag


def test_a_word_of_the_customers_message_does_not_excuse_a_slot() -> None:
    message = "Please fix the name on my invoice."  # "name", an ordinary word, not the tag
    assert found("Hi Priya, [Name] on your invoice is fixed.", customer_message=message)["placeholder_leak"]


def test_placeholder_allow_lists_the_products_own_tags() -> None:
    text = "Add {{ unsubscribe_url }} at the bottom; {{reset_link}} is yours."
    assert found(text)["placeholder_leak"]["placeholders"] == ["{{ unsubscribe_url }}", "{{reset_link}}"]
    allowing = Detector(DetectorsConfig(plans=PLANS, placeholder_allow=["{{unsubscribe_url}}"]))
    assert found(text, allowing)["placeholder_leak"]["placeholders"] == ["{{reset_link}}"]


# -- plans -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kw"),
    [
        ("If you upgrade today, your Pro plan starts right away with 50 seats.", {}),
        ("I've switched you from your Team plan to Basic as you asked.", {}),
        ("Your Pro trial ends on Friday; after that your Free plan keeps your files.", {}),
        ("Anyone on your team account can open the shared folder.", {}),
        ("The Enterprise plan adds audit logs if you ever need them.", {}),
        ("Your previous Pro subscription was refunded in full.", {}),
        (
            "Your Team workspace can be moved to the new region.",
            {"customer_message": "My second workspace is on Team, can you move it?"},
        ),
        ("Your Team plan renews on 3 May.", {"customer": Customer(name="Priya", plan="Basic, Team")}),
        ("Everyone in the Team workspace can see the shared calendar.", {}),  # a workspace's name
        ("Your team workspace has two new members.", {}),  # an ordinary word
        (
            "Enterprise customers like you can ask for a custom contract.",
            {"customer": Customer(name="Priya", plan="Enterprise")},
        ),
        ("If you pay for Pro next month, the limit goes away.", {}),
        ("Our team reviewed your request this morning.", {}),
        ("Your Pro subscription was cancelled on the 2nd, so nothing more is charged.", {}),
        ("Your subscription to Enterprise ended last month.", {}),
        ("Crashes like this hit MacBook Pro users like you after the update.", {}),
        ("Team members like you can view the shared dashboards.", {}),
        ("As a Team member (not an admin) you can't change billing.", {}),  # one of the team
        ("Bonjour Priya, votre formule Basic est active.", {}),  # French, German, Spanish: theirs
        ("Hallo Priya, Ihr Team hat jetzt Zugriff auf den Ordner.", {}),  # "Ihr Team": their team
        ("Si vous passez à votre formule Pro, vous aurez 10 utilisateurs.", {}),
        ("Wenn Sie Ihr Pro-Abo buchen, erhalten Sie 10 Plätze.", {}),
        ("Votre abonnement Pro a été résilié; la formule Basic reste active.", {}),
        ("Im Pro-Tarif sind 10 Nutzer enthalten, im Team-Tarif 50.", {}),  # about the plans, no "Sie"
        ("Ihr Pro-Tarif ist abgelaufen; Sie nutzen jetzt Basic.", {}),  # over
        ("Ihre Kollegin meinte, dass sie den Pro-Tarif nutzt.", {}),  # "sie": she
        ("Your Pro Tools licence is renewed.", {}),  # a product's name, capitalised
        ("You're signed up for our Enterprise summit on the 4th.", {}),
        ("Whether you pay for Team or Pro, invoices go out on the 1st.", {}),
        ("What you pay for Team depends on the number of seats.", {}),
        ("The Pro plan you used to be on had a 10 GB limit.", {}),
        ("The Team plan you're considering includes guest links.", {}),
        ("The Enterprise plan you have in mind adds audit logs.", {}),
        ("Your Team plan will start on 1 July, when the current term ends.", {}),  # not yet
        ("Your Enterprise plan quote is attached.", {}),
        ("You're on a Basic Economy fare, so seat choice costs extra.", {}),
        ("You're using the Pro edition of Windows, so BitLocker is available.", {}),
        ("You're on the Team page, which lists every member.", {}),
        ("I've added two seats to your team subscription.", {}),  # lower case, not called a plan
        ("| Plan | Pro | Team |\n|---|---|---|\n| Seats | 10 | 50 |", {}),  # a comparison's header
        ("| Plan | Price |\n|---|---|\n| Pro | $20 |\n| Team | $50 |", {}),  # a price list
        ("Upgrade plan: Pro\nPrice: $20 a month", {}),  # a key of another thing
        ("To compare, plan: Pro or Team?", {}),
        ("Being on the Pro plan means SSO is included for everyone.", {}),
        (
            "Your Pro plan is active, and last week's duplicate charge has been refunded.",
            {"customer": Customer(name="Priya", plan="Pro")},
        ),
    ],
)
def test_plans_not_flagged(text: str, kw: dict) -> None:
    assert "plan_mismatch" not in found("Hi Priya,\n\n" + text, **kw)


@pytest.mark.parametrize(
    ("text", "plan"),
    [
        ("As an Enterprise member, you have a dedicated manager.", "Enterprise"),
        ("As a Team plan member, you have shared folders.", "Team"),
        ("As a Team customer, you have shared folders.", "Team"),
        ("Thanks for being a Team customer! Your workspace is restored.", "Team"),
        ("Bonjour Priya, votre formule Pro a bien été renouvelée.", "Pro"),
        ("En tant qu'abonnée Pro, vous bénéficiez de la livraison gratuite.", "Pro"),
        ("Hallo Priya, Ihr Pro-Tarif umfasst bis zu 10 Benutzer.", "Pro"),
        ("Hola Priya, tu plan Enterprise incluye soporte 24/7.", "Enterprise"),
        ("Como cliente Team, tienes carpetas compartidas.", "Team"),
        ("Since your Enterprise agreement includes a 99.99% SLA, a credit is applied.", "Enterprise"),
        ("Your Pro invoice for November is attached.", "Pro"),
        ("Thanks for being such a loyal Enterprise customer! Your issue is escalated.", "Enterprise"),
        ("Your Team broadband plan includes speeds up to 50 Mbps.", "Team"),
        ("Thank you for being with us on the Pro plan. Your seats are updated.", "Pro"),
        ("Hi Priya, aapka Pro plan active hai, toh custom domains use kar sakte hain.", "Pro"),
        ("Ciao Priya, il tuo piano Team include 5 magazzini.", "Team"),
        ("Olá Priya, você está no plano Free, que permite 3 projetos.", "Free"),
        ("Hallo Priya, da Sie den Pro-Tarif nutzen, ist das nicht enthalten.", "Pro"),
        ("Hoi Priya, omdat je op het Free-abonnement zit, kun je 3 projecten maken.", "Free"),
        ("Since you're on Pro, exports are unlimited.", "Pro"),
        ("The Team tier you're subscribed to includes guest links.", "Team"),
        ("Your Pro licence renews on 3 May.", "Pro"),
        ("Because you have the Team plan, SSO is on.", "Team"),
        ("Your current plan is Enterprise, so nothing changes.", "Enterprise"),
        ("your team plan includes five editors.", "Team"),  # lower case, but called a plan
        ("Your Enterprise workspace now has audit logs switched on.", "Enterprise"),
        ("Team subscribers like you get priority routing.", "Team"),
        ("Your subscription to Enterprise renews in June.", "Enterprise"),
        ("You are on our Pro plan, so the API is open to you.", "Pro"),
        ("Since you pay for Team, guests are free.", "Team"),
        ("Your organisation's Pro plan covers twelve editors.", "Pro"),
        ("Your Team-tier account includes shared drives.", "Team"),
        ("Your plan (Enterprise) includes a named engineer.", "Enterprise"),
        ("Your plan (Team, billed yearly) includes ten seats.", "Team"),
        ("Current plan: Pro (monthly).", "Pro"),
        ("Your company is on Enterprise, so SSO is included.", "Enterprise"),
        (
            "Moving to Pro adds SQL, and you'd keep everything from your current Enterprise plan.",
            "Enterprise",
        ),
        ("Your practice's Enterprise subscription is unchanged.", "Enterprise"),
        ("Como cliente del plan Pro, el envío es gratuito.", "Pro"),
        ("Thank you for being on our Enterprise plan for 2 years!", "Enterprise"),
        ("Omdat je het Pro-abonnement hebt, kun je onbeperkt projecten maken.", "Pro"),
        (
            "Here's your account:\n\n| Item | Detail |\n|---|---|\n| Plan | Enterprise (annual) |"
            "\n| Seats | 45 |",
            "Enterprise",
        ),
        ("Your account:\n- **Plan:** Pro\n- **Seats:** 4", "Pro"),  # a key and its value, alone on a line
        ("Your Pro plan is active, and last week's duplicate charge has been refunded.", "Pro"),
    ],
)
def test_plans_flagged(text: str, plan: str) -> None:
    evidence = found("Hi Priya,\n\n" + text)["plan_mismatch"]
    assert (evidence["plan"], evidence["customer_plan"]) == (plan, "Basic")
    assert evidence["sentence"][1].casefold() == plan.casefold()


def test_case_sensitive_plans() -> None:
    text = "Hi Priya,\n\nyour team plan includes five editors."
    sensitive = Detector(DetectorsConfig(plans=PLANS, plans_case_sensitive=True))
    assert "plan_mismatch" not in found(text, sensitive)
    assert "plan_mismatch" in found(text.replace("team", "Team"), sensitive)
    assert "plan_mismatch" in found(text)


# -- KB ----------------------------------------------------------------------------------------


def kb(updated_days: int, reviewed_days: int | None = None) -> tuple[KbArticle, ...]:
    day = T0.date()
    reviewed = None if reviewed_days is None else day - dt.timedelta(days=reviewed_days)
    return (
        KbArticle("kb-7", "https://help.example.test/kb-7", day - dt.timedelta(days=updated_days), reviewed),
    )


def test_reviewed_at_counts_as_checked() -> None:
    text = "Hi Priya,\n\nSee https://help.example.test/kb-7 for the steps."
    assert "stale_kb" not in found(text, kb_articles=kb(400, 20))
    evidence = found(text, kb_articles=kb(400, 300))["stale_kb"]
    assert (evidence["age_days"], evidence["reviewed_at"]) == (
        300,
        (T0.date() - dt.timedelta(days=300)).isoformat(),
    )
    assert evidence["sentence"][1] == "https://help.example.test/kb-7"
    assert found(text, kb_articles=kb(400))["stale_kb"]["age_days"] == 400


# -- configuration -----------------------------------------------------------------------------


def test_enabled_mute_and_channel_overrides() -> None:
    text = "Hi Oskar,\n\nYour reference is {{ref}}."
    assert set(found(text)) == {"name_mismatch", "placeholder_leak"}
    off = Detector(DetectorsConfig(enabled={"name_mismatch": False}))
    assert set(found(text, off)) == {"placeholder_leak"}
    muted = Detector(DetectorsConfig(mute=["placeholder_leak"]))
    assert set(found(text, muted)) == {"name_mismatch"}
    by_pattern = Detector(DetectorsConfig(mute=["placeholder_leak: ^\\{\\{ref"]))
    assert set(found(text, by_pattern)) == {"name_mismatch"}
    assert set(found(text.replace("ref", "code"), by_pattern)) == {"name_mismatch", "placeholder_leak"}
    chat = Detector(DetectorsConfig(channels={"chat": {"mute": ["name_mismatch"]}}))
    assert set(found(text, chat, channel="chat")) == {"placeholder_leak"}
    assert set(found(text, chat, channel="email")) == {"name_mismatch", "placeholder_leak"}
    rule = RuleConfig(name="refund", pattern="(?i)refund")
    muted_rule = Detector(DetectorsConfig(rules=[rule], mute=["rule:refund"]))
    assert found("Hi Priya, a refund is on its way.", muted_rule) == {}


def test_a_mixed_batch_uses_each_channels_settings() -> None:
    detector = Detector(DetectorsConfig(channels={"chat": {"enabled": {"placeholder_leak": False}}}))
    records = [
        record("Hi Priya, code {{x}}.", rid="R-1", channel="chat"),
        record("Hi Priya, code {{x}}.", rid="R-2", ticket_id="T-2", channel="email"),
        record("Hi Priya, code {{x}}.", rid="R-3", ticket_id="T-3"),
    ]
    assert [f.reply_id for f in detector.check_batch(records)] == ["R-2", "R-3"]


def test_a_slot_in_brackets_is_reported_once() -> None:
    assert found("Please see [INSERT_NAME_HERE] for details.")["placeholder_leak"]["placeholders"] == [
        "[INSERT_NAME_HERE]"
    ]
