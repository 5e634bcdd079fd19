"""What the bot says, in English, French and German. Short enough for one SMS where it can be.

`text(key, language, **values)` picks the language (English when a text or language is
missing) and fills in the values. Every key has all three languages: a unit test checks it.
A text that speaks of points has a `<key>_stamps` version for stamp cards' members where
needed; `for_card(key, stamp_card=...)` names the one to say.
"""

from __future__ import annotations

LANGUAGES = ("en", "fr", "de")
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "de": "Deutsch"}

CATALOGUE: dict[str, dict[str, str]] = {
    "apology": {
        "en": "Sorry, something went wrong on our side. Please try again in a moment.",
        "fr": "Désolé, un problème est survenu chez nous. Réessayez dans un instant.",
        "de": "Entschuldigung, bei uns ist ein Fehler aufgetreten. Bitte gleich noch einmal.",
    },
    "unknown": {
        "en": "Sorry, I did not understand. Send HELP for what I can do.",
        "fr": "Désolé, je n'ai pas compris. Envoyez AIDE pour voir ce que je sais faire.",
        "de": "Das habe ich nicht verstanden. Senden Sie HILFE für alle Befehle.",
    },
    "help": {
        "en": "{program}: BALANCE, CARD, REWARDS, VOUCHERS, HISTORY, PROMOS, SHOPS, LANGUAGE, "
        "STOP, DELETE.",
        "fr": "{program} : SOLDE, CARTE, CADEAUX, BONS, HISTORIQUE, PROMOS, MAGASINS, LANGUE, "
        "STOP, SUPPRIMER.",
        "de": "{program}: PUNKTE, KARTE, PRAEMIEN, GUTSCHEINE, VERLAUF, AKTIONEN, FILIALEN, "
        "SPRACHE, STOP, LOESCHEN.",
    },
    "help_not_member": {
        "en": "{program} is our loyalty programme. Send JOIN for your free card: collect points "
        "at the till, then check your balance and redeem rewards here.",
        "fr": "{program} est notre programme de fidélité. Envoyez JOIN pour votre carte "
        "gratuite : cumulez des points en caisse, suivez ici solde et cadeaux.",
        "de": "{program} ist unser Treueprogramm. Senden Sie JOIN für Ihre kostenlose Karte: "
        "Punkte an der Kasse sammeln, hier Stand sehen und Prämien einlösen.",
    },
    "help_not_member_stamps": {
        "en": "{program} is our stamp card. Send JOIN for your free card: collect stamps "
        "at the till, then follow your card and its reward here.",
        "fr": "{program} est notre carte à tampons. Envoyez JOIN pour votre carte gratuite : "
        "gagnez des tampons en caisse, puis suivez ici votre cadeau.",
        "de": "{program} ist unsere Stempelkarte. Senden Sie JOIN für Ihre kostenlose Karte: "
        "Stempel an der Kasse sammeln, dann hier Karte und Prämie verfolgen.",
    },
    "programme_paused": {
        "en": "{program} is paused for now: you cannot join or use your card. Your points are kept.",
        "fr": "{program} est en pause : adhésion et carte indisponibles. Vos points sont conservés.",
        "de": "{program} ist pausiert: Beitritt und Karte gehen gerade nicht. Ihre Punkte bleiben.",
    },
    "programme_paused_stamps": {
        "en": "{program} is paused for now: you cannot join or use your card. Your stamps are kept.",
        "fr": "{program} est en pause : adhésion et carte indisponibles. Vos tampons sont conservés.",
        "de": "{program} ist pausiert: Beitritt und Karte gehen gerade nicht. Ihre Stempel bleiben.",
    },
    "help_no_programme": {
        "en": "Hello! To join a loyalty programme, open your shop's link or send JOIN and its code.",
        "fr": "Bonjour ! Pour adhérer, ouvrez le lien de votre magasin ou envoyez JOIN et son code.",
        "de": "Hallo! Zum Mitmachen öffnen Sie den Link Ihres Geschäfts oder senden JOIN und den Code.",
    },
    "not_member": {
        "en": "You are not a member of {program} yet. Send JOIN to get your card.",
        "fr": "Vous n'êtes pas encore membre de {program}. Envoyez JOIN pour avoir votre carte.",
        "de": "Sie sind noch nicht Mitglied bei {program}. Senden Sie JOIN für Ihre Karte.",
    },
    "unknown_code": {
        "en": "No programme has the code {code}. Check the code on your shop's poster.",
        "fr": "Aucun programme n'a le code {code}. Vérifiez le code affiché en magasin.",
        "de": "Kein Programm hat den Code {code}. Prüfen Sie den Code im Geschäft.",
    },
    "ask_terms": {
        "en": "Join {program}? By joining you accept its terms: {terms_url} Reply YES or NO.",
        "fr": "Adhérer à {program} ? Vous acceptez ses conditions : {terms_url} Répondez OUI ou NON.",
        "de": "{program} beitreten? Sie akzeptieren die Bedingungen: {terms_url} Antworten Sie JA oder NEIN.",
    },
    "join_cancelled": {
        "en": "No problem, you have not joined. Send JOIN whenever you like.",
        "fr": "Pas de souci, vous n'avez pas adhéré. Envoyez JOIN quand vous voulez.",
        "de": "Kein Problem, Sie sind nicht beigetreten. Senden Sie JOIN, wann Sie möchten.",
    },
    "ask_contact": {
        "en": "Share your phone number with the button below, or type your e-mail address.",
        "fr": "Partagez votre numéro avec le bouton ci-dessous, ou tapez votre adresse e-mail.",
        "de": "Teilen Sie Ihre Telefonnummer mit dem Knopf unten oder tippen Sie Ihre E-Mail-Adresse.",
    },
    "share_phone": {
        "en": "Share my phone number",
        "fr": "Partager mon numéro",
        "de": "Meine Nummer teilen",
    },
    "not_own_contact": {
        "en": "Please share your own number with the button, or type your e-mail address.",
        "fr": "Partagez votre propre numéro avec le bouton, ou tapez votre adresse e-mail.",
        "de": "Bitte teilen Sie Ihre eigene Nummer mit dem Knopf oder tippen Sie Ihre E-Mail-Adresse.",
    },
    "bad_contact": {
        "en": "That is not a phone number or an e-mail address I can use. Please try again.",
        "fr": "Ce n'est pas un numéro ou une adresse e-mail valable. Réessayez, s'il vous plaît.",
        "de": "Das ist keine gültige Telefonnummer oder E-Mail-Adresse. Bitte noch einmal.",
    },
    "welcome": {
        "en": "Welcome to {program}! Card {card}, balance {points} points.",
        "fr": "Bienvenue chez {program} ! Carte {card}, solde {points} points.",
        "de": "Willkommen bei {program}! Karte {card}, Stand {points} Punkte.",
    },
    "welcome_back": {
        "en": "You are already a member of {program}. Card {card}, balance {points} points.",
        "fr": "Vous êtes déjà membre de {program}. Carte {card}, solde {points} points.",
        "de": "Sie sind bereits Mitglied bei {program}. Karte {card}, Stand {points} Punkte.",
    },
    "code_sent": {
        "en": "You already have a card. We sent a 6-digit code to {where}: type it here to link this chat.",
        "fr": "Vous avez déjà une carte. Nous avons envoyé un code à 6 chiffres à {where} : tapez-le ici.",
        "de": "Sie haben schon eine Karte. Ein 6-stelliger Code ging an {where}: hier eingeben.",
    },
    "code_message": {
        "en": "Your {program} code: {code}. It expires in {minutes} minutes. Never share it.",
        "fr": "Votre code {program} : {code}. Il expire dans {minutes} minutes. Ne le partagez pas.",
        "de": "Ihr {program}-Code: {code}. Er läuft in {minutes} Minuten ab. Nicht weitergeben.",
    },
    "code_wrong": {
        "en": "That code is not right. {left} tries left.",
        "fr": "Ce code n'est pas le bon. Encore {left} essais.",
        "de": "Der Code stimmt nicht. Noch {left} Versuche.",
    },
    "code_expired": {
        "en": "That code has expired or was tried too often. Send JOIN for a new one.",
        "fr": "Ce code a expiré ou a été trop essayé. Envoyez JOIN pour en recevoir un nouveau.",
        "de": "Der Code ist abgelaufen oder zu oft versucht. Senden Sie JOIN für einen neuen.",
    },
    "linked": {
        "en": "Done: this chat is linked to card {card}. Balance {points} points.",
        "fr": "C'est fait : ce chat est lié à la carte {card}. Solde {points} points.",
        "de": "Erledigt: dieser Chat ist mit Karte {card} verbunden. Stand {points} Punkte.",
    },
    "balance": {
        "en": "{program}: {points} points.",
        "fr": "{program} : {points} points.",
        "de": "{program}: {points} Punkte.",
    },
    "stamps_balance": {
        "en": "{program}: {filled} of {size} stamps.\n{grid}",
        "fr": "{program} : {filled} tampons sur {size}.\n{grid}",
        "de": "{program}: {filled} von {size} Stempeln.\n{grid}",
    },
    "stamps_to_go": {
        "en": "{missing} more for {reward}.",
        "fr": "Encore {missing} pour {reward}.",
        "de": "Noch {missing} bis {reward}.",
    },
    "stamps_full": {
        "en": "Your card is full: {reward} comes with your next visit.",
        "fr": "Votre carte est pleine : {reward} vous attend à votre prochaine visite.",
        "de": "Ihre Karte ist voll: {reward} gibt es beim nächsten Besuch.",
    },
    "stamps_full_stock": {
        "en": "Your card is full: {reward} is out of stock; it comes with your next visit once back.",
        "fr": "Votre carte est pleine : {reward} est épuisé ; il vous attend dès son retour en stock.",
        "de": "Ihre Karte ist voll: {reward} ist ausverkauft und kommt, sobald es wieder vorrätig ist.",
    },
    "stamps_full_again": {
        "en": "Your card is full: {reward} comes with your next visit from {date}.",
        "fr": "Votre carte est pleine : {reward} vous attend à votre prochaine visite dès le {date}.",
        "de": "Ihre Karte ist voll: {reward} gibt es beim nächsten Besuch ab {date}.",
    },
    "stamps_full_once": {
        "en": "Your card is full, but you have already had {reward}: it is once per member.",
        "fr": "Votre carte est pleine, mais vous avez déjà eu {reward} : une fois par membre.",
        "de": "Ihre Karte ist voll, aber Sie hatten {reward} schon: einmal pro Mitglied.",
    },
    "stamps_full_no_reward": {
        "en": "Your card is full: ask at the till about its reward.",
        "fr": "Votre carte est pleine : demandez sa récompense en caisse.",
        "de": "Ihre Karte ist voll: fragen Sie an der Kasse nach der Prämie.",
    },
    "stamps_rewards": {
        "en": "{program} is a stamp card: a full card of {size} stamps gives {reward}, "
        "as a voucher. Your vouchers are on your card page.",
        "fr": "{program} est une carte à tampons : une carte pleine de {size} tampons donne "
        "{reward}, en bon. Vos bons sont sur la page de votre carte.",
        "de": "{program} ist eine Stempelkarte: eine volle Karte mit {size} Stempeln bringt "
        "{reward} als Gutschein. Ihre Gutscheine finden Sie auf Ihrer Kartenseite.",
    },
    "welcome_stamps": {
        "en": "Welcome to {program}! Card {card}, {filled} of {size} stamps.",
        "fr": "Bienvenue chez {program} ! Carte {card}, {filled} tampons sur {size}.",
        "de": "Willkommen bei {program}! Karte {card}, {filled} von {size} Stempeln.",
    },
    "welcome_back_stamps": {
        "en": "You are already a member of {program}. Card {card}, {filled} of {size} stamps.",
        "fr": "Vous êtes déjà membre de {program}. Carte {card}, {filled} tampons sur {size}.",
        "de": "Sie sind bereits Mitglied bei {program}. Karte {card}, {filled} von {size} Stempeln.",
    },
    "linked_stamps": {
        "en": "Done: this chat is linked to card {card}. {filled} of {size} stamps.",
        "fr": "C'est fait : ce chat est lié à la carte {card}. {filled} tampons sur {size}.",
        "de": "Erledigt: dieser Chat ist mit Karte {card} verbunden. {filled} von {size} Stempeln.",
    },
    "carry": {
        "en": "{amount} already counts towards your next point.",
        "fr": "{amount} comptent déjà pour votre prochain point.",
        "de": "{amount} zählen schon für Ihren nächsten Punkt.",
    },
    "tier": {"en": "Tier: {tier}.", "fr": "Niveau : {tier}.", "de": "Stufe: {tier}."},
    "next_tier": {
        "en": "{points} more for {tier}.",
        "fr": "Encore {points} pour {tier}.",
        "de": "Noch {points} bis {tier}.",
    },
    "pending": {
        "en": "{points} points pending until {date} (the return window).",
        "fr": "{points} points en attente jusqu'au {date} (délai de retour).",
        "de": "{points} Punkte vorgemerkt bis {date} (Rückgabefrist).",
    },
    "pending_stamps": {
        "en": "{points} stamps pending until {date} (the return window).",
        "fr": "{points} tampons en attente jusqu'au {date} (délai de retour).",
        "de": "{points} Stempel vorgemerkt bis {date} (Rückgabefrist).",
    },
    "expiring": {
        "en": "{points} points expire on {date}.",
        "fr": "{points} points expirent le {date}.",
        "de": "{points} Punkte verfallen am {date}.",
    },
    "expiring_stamps": {
        "en": "{points} stamps expire on {date}.",
        "fr": "{points} tampons expirent le {date}.",
        "de": "{points} Stempel verfallen am {date}.",
    },
    "membership_valid": {
        "en": "Membership valid until {date}.",
        "fr": "Adhésion valable jusqu'au {date}.",
        "de": "Mitgliedschaft gültig bis {date}.",
    },
    "membership_lapsed": {
        "en": "Membership expired on {date}: renew at the till ({price}) to earn again.",
        "fr": "Adhésion expirée le {date} : renouvelez-la en caisse ({price}) pour regagner des points.",
        "de": "Mitgliedschaft am {date} abgelaufen: an der Kasse verlängern ({price}) für neue Punkte.",
    },
    "membership_lapsed_stamps": {
        "en": "Membership expired on {date}: renew at the till ({price}) to collect stamps again.",
        "fr": "Adhésion expirée le {date} : renouvelez-la en caisse ({price}) pour regagner des tampons.",
        "de": "Mitgliedschaft am {date} abgelaufen: an der Kasse verlängern ({price}) für neue Stempel.",
    },
    "membership_unpaid": {
        "en": "Membership not paid yet: pay at the till ({price}) to start earning points.",
        "fr": "Adhésion pas encore payée : réglez-la en caisse ({price}) pour gagner des points.",
        "de": "Mitgliedschaft noch nicht bezahlt: an der Kasse zahlen ({price}), um Punkte zu sammeln.",
    },
    "membership_unpaid_stamps": {
        "en": "Membership not paid yet: pay at the till ({price}) to start collecting stamps.",
        "fr": "Adhésion pas encore payée : réglez-la en caisse ({price}) pour gagner des tampons.",
        "de": "Mitgliedschaft noch nicht bezahlt: an der Kasse zahlen ({price}), um Stempel zu sammeln.",
    },
    "card": {
        "en": "Card {card}. Show this QR code at the till.",
        "fr": "Carte {card}. Montrez ce QR code en caisse.",
        "de": "Karte {card}. Zeigen Sie diesen QR-Code an der Kasse.",
    },
    "card_sms": {
        "en": "Card {card}. QR code: {qr}",
        "fr": "Carte {card}. QR code : {qr}",
        "de": "Karte {card}. QR-Code: {qr}",
    },
    "wallet_links": {
        "en": "Add to Apple Wallet: {apple} Google Wallet: {google}",
        "fr": "Ajouter à Apple Wallet : {apple} Google Wallet : {google}",
        "de": "Zu Apple Wallet: {apple} Google Wallet: {google}",
    },
    "add_apple": {
        "en": "Add to Apple Wallet",
        "fr": "Ajouter à Apple Wallet",
        "de": "Zu Apple Wallet hinzufügen",
    },
    "add_google": {
        "en": "Add to Google Wallet",
        "fr": "Ajouter à Google Wallet",
        "de": "Zu Google Wallet hinzufügen",
    },
    "qr_link": {"en": "QR code image", "fr": "Image du QR code", "de": "QR-Code als Bild"},
    "rewards_none": {
        "en": "{program} has no rewards right now.",
        "fr": "{program} n'a pas de cadeaux pour le moment.",
        "de": "{program} hat gerade keine Prämien.",
    },
    "rewards_head": {
        "en": "Rewards ({points} points):",
        "fr": "Cadeaux ({points} points) :",
        "de": "Prämien ({points} Punkte):",
    },
    # One reward's cost in the list; a stamp card lists no catalogue, its version is for safety.
    "reward_cost": {"en": "{cost} points", "fr": "{cost} points", "de": "{cost} Punkte"},
    "reward_cost_stamps": {"en": "{cost} stamps", "fr": "{cost} tampons", "de": "{cost} Stempel"},
    "rewards_foot": {
        "en": "* = you can redeem it. Send REDEEM and the number.",
        "fr": "* = disponible pour vous. Envoyez ECHANGER et le numéro.",
        "de": "* = für Sie einlösbar. Senden Sie EINLOESEN und die Nummer.",
    },
    "rewards_foot_none": {
        "en": "Keep collecting: none is within reach yet.",
        "fr": "Continuez à collecter : aucun n'est encore à votre portée.",
        "de": "Weiter sammeln: noch keine ist erreichbar.",
    },
    "redeem_which": {
        "en": "Which reward? Send REWARDS for the list, then REDEEM and its number.",
        "fr": "Quel cadeau ? Envoyez CADEAUX pour la liste, puis ECHANGER et son numéro.",
        "de": "Welche Prämie? Senden Sie PRAEMIEN für die Liste, dann EINLOESEN und die Nummer.",
    },
    "confirm_redeem": {
        "en": "Redeem {reward} for {cost} points? {left} points will remain. Reply YES or NO.",
        "fr": "Échanger {reward} contre {cost} points ? Il vous restera {left} points. Répondez OUI ou NON.",
        "de": "{reward} für {cost} Punkte einlösen? Es bleiben {left} Punkte. Antworten Sie JA oder NEIN.",
    },
    "voucher": {
        "en": "Your voucher for {reward}: {code}, valid until {date}. Show it at the till.",
        "fr": "Votre bon pour {reward} : {code}, valable jusqu'au {date}. Montrez-le en caisse.",
        "de": "Ihr Gutschein für {reward}: {code}, gültig bis {date}. Zeigen Sie ihn an der Kasse.",
    },
    "vouchers_none": {
        "en": "You have no vouchers.",
        "fr": "Vous n'avez aucun bon.",
        "de": "Sie haben keine Gutscheine.",
    },
    "vouchers_head": {"en": "Your vouchers:", "fr": "Vos bons :", "de": "Ihre Gutscheine:"},
    "voucher_line": {
        "en": "{code}: {reward}, valid until {date}",
        "fr": "{code} : {reward}, valable jusqu'au {date}",
        "de": "{code}: {reward}, gültig bis {date}",
    },
    "voucher_unnamed": {"en": "voucher", "fr": "bon", "de": "Gutschein"},
    "cancelled": {
        "en": "Cancelled. Nothing has changed.",
        "fr": "Annulé. Rien n'a changé.",
        "de": "Abgebrochen. Nichts wurde geändert.",
    },
    "nothing_pending": {
        "en": "There is nothing to confirm. Send HELP for the menu.",
        "fr": "Il n'y a rien à confirmer. Envoyez AIDE pour le menu.",
        "de": "Es gibt nichts zu bestätigen. Senden Sie HILFE für das Menü.",
    },
    "yes_or_no": {
        "en": "Please reply YES or NO.",
        "fr": "Répondez OUI ou NON, s'il vous plaît.",
        "de": "Bitte antworten Sie JA oder NEIN.",
    },
    "not_enough": {
        "en": "{reward} costs {cost} points; you have {points}. {missing} more to go.",
        "fr": "{reward} coûte {cost} points ; vous en avez {points}. Encore {missing}.",
        "de": "{reward} kostet {cost} Punkte; Sie haben {points}. Noch {missing}.",
    },
    "reward_gone": {
        "en": "Sorry, {reward} is not available any more. Send REWARDS for the others.",
        "fr": "Désolé, {reward} n'est plus disponible. Envoyez CADEAUX pour les autres.",
        "de": "{reward} ist leider nicht mehr verfügbar. Senden Sie PRAEMIEN für die anderen.",
    },
    "reward_used_once": {
        "en": "You already redeemed {reward} on {date}: once per member. Send REWARDS for others.",
        "fr": "Vous avez déjà échangé {reward} le {date} : une fois par membre. Voir CADEAUX.",
        "de": "Sie haben {reward} am {date} bereits eingelöst: einmal pro Mitglied. Siehe PRAEMIEN.",
    },
    "reward_used_until": {
        "en": "You already redeemed {reward} on {date}. You can redeem it again from {again}.",
        "fr": "Vous avez déjà échangé {reward} le {date}. À nouveau possible dès le {again}.",
        "de": "Sie haben {reward} am {date} bereits eingelöst. Ab {again} wieder einlösbar.",
    },
    "used_mark": {"en": "used", "fr": "déjà utilisé", "de": "bereits eingelöst"},
    "used_until_mark": {
        "en": "used, again from {again}",
        "fr": "utilisé, à nouveau dès le {again}",
        "de": "eingelöst, wieder ab {again}",
    },
    "next_reward": {
        "en": "Next reward: {reward} in {points} pts.",
        "fr": "Prochain cadeau : {reward} dans {points} pts.",
        "de": "Nächste Prämie: {reward} in {points} Pkt.",
    },
    "reward_ready": {
        "en": "Ready to redeem: {reward}.",
        "fr": "Prêt à échanger : {reward}.",
        "de": "Einlösbar: {reward}.",
    },
    "history_none": {
        "en": "No points movements yet.",
        "fr": "Pas encore de mouvement de points.",
        "de": "Noch keine Punktebewegungen.",
    },
    "history_none_stamps": {
        "en": "No stamps collected yet.",
        "fr": "Pas encore de tampon.",
        "de": "Noch keine Stempel gesammelt.",
    },
    "history_head": {
        "en": "Last movements:",
        "fr": "Derniers mouvements :",
        "de": "Letzte Bewegungen:",
    },
    "promotions_none": {
        "en": "No promotions running right now.",
        "fr": "Aucune promotion en ce moment.",
        "de": "Gerade laufen keine Aktionen.",
    },
    "promotions_head": {"en": "Running now:", "fr": "En ce moment :", "de": "Aktuell:"},
    "until": {"en": "until {date}", "fr": "jusqu'au {date}", "de": "bis {date}"},
    "shops_none": {
        "en": "No shop is listed yet.",
        "fr": "Aucun magasin n'est encore listé.",
        "de": "Noch keine Filiale eingetragen.",
    },
    "shops_head": {"en": "Our shops:", "fr": "Nos magasins :", "de": "Unsere Filialen:"},
    "choose_language": {
        "en": "Choose your language: EN, FR or DE.",
        "fr": "Choisissez votre langue : EN, FR ou DE.",
        "de": "Wählen Sie Ihre Sprache: EN, FR oder DE.",
    },
    "language_set": {
        "en": "I will write to you in English.",
        "fr": "Je vous écrirai en français.",
        "de": "Ich schreibe Ihnen auf Deutsch.",
    },
    "stopped": {
        "en": "You will get no more messages from {program}. Send START to receive them again.",
        "fr": "Vous ne recevrez plus de messages de {program}. Envoyez START pour les recevoir à nouveau.",
        "de": "Sie erhalten keine Nachrichten mehr von {program}. START schaltet sie wieder ein.",
    },
    "started": {
        "en": "Messages from {program} are on again. Send STOP to turn them off.",
        "fr": "Les messages de {program} sont réactivés. Envoyez STOP pour les arrêter.",
        "de": "Nachrichten von {program} sind wieder an. Senden Sie STOP zum Abbestellen.",
    },
    "confirm_erase": {
        "en": "Delete your {program} card, points and data for good? Reply YES or NO.",
        "fr": "Supprimer pour de bon votre carte {program}, points et données ? Répondez OUI ou NON.",
        "de": "Ihre {program}-Karte, Punkte und Daten endgültig löschen? Antworten Sie JA oder NEIN.",
    },
    "confirm_erase_stamps": {
        "en": "Delete your {program} card, stamps and data for good? Reply YES or NO.",
        "fr": "Supprimer pour de bon votre carte {program}, tampons et données ? Répondez OUI ou NON.",
        "de": "Ihre {program}-Karte, Stempel und Daten endgültig löschen? Antworten Sie JA oder NEIN.",
    },
    "erased": {
        "en": "Done: your {program} card is closed and your name, phone and e-mail are erased. "
        "Write JOIN to start again.",
        "fr": "C'est fait : votre carte {program} est fermée, vos nom, téléphone et e-mail sont "
        "effacés. JOIN pour recommencer.",
        "de": "Erledigt: Ihre {program}-Karte ist geschlossen, Name, Telefon und E-Mail sind "
        "gelöscht. JOIN für einen Neuanfang.",
    },
    "member_inactive": {
        "en": "Your card is not active. Please ask at the shop.",
        "fr": "Votre carte n'est pas active. Renseignez-vous en magasin.",
        "de": "Ihre Karte ist nicht aktiv. Bitte fragen Sie im Geschäft.",
    },
    "group_refused": {
        "en": "I only talk in private chats. Please write to me directly.",
        "fr": "Je ne discute qu'en privé. Écrivez-moi directement.",
        "de": "Ich schreibe nur in privaten Chats. Bitte schreiben Sie mir direkt.",
    },
    "media_refused": {
        "en": "I can only read text. Send HELP for what I can do.",
        "fr": "Je ne lis que du texte. Envoyez AIDE pour voir ce que je sais faire.",
        "de": "Ich kann nur Text lesen. Senden Sie HILFE für alle Befehle.",
    },
    "button_balance": {"en": "Balance", "fr": "Solde", "de": "Punkte"},
    "button_balance_stamps": {"en": "Stamps", "fr": "Tampons", "de": "Stempel"},
    "button_card": {"en": "My card", "fr": "Ma carte", "de": "Meine Karte"},
    "button_rewards": {"en": "Rewards", "fr": "Cadeaux", "de": "Prämien"},
    "button_vouchers": {"en": "My vouchers", "fr": "Mes bons", "de": "Meine Gutscheine"},
    "button_history": {"en": "History", "fr": "Historique", "de": "Verlauf"},
    "button_promotions": {"en": "Promotions", "fr": "Promotions", "de": "Aktionen"},
    "button_shops": {"en": "Shops", "fr": "Magasins", "de": "Filialen"},
    "button_language": {"en": "Language", "fr": "Langue", "de": "Sprache"},
    "button_help": {"en": "Help", "fr": "Aide", "de": "Hilfe"},
    "button_yes": {"en": "Yes", "fr": "Oui", "de": "Ja"},
    "button_no": {"en": "No", "fr": "Non", "de": "Nein"},
    "button_redeem": {
        "en": "Redeem: {reward}",
        "fr": "Échanger : {reward}",
        "de": "Einlösen: {reward}",
    },
}


STAMPS = "_stamps"


def for_card(key: str, *, stamp_card: bool) -> str:
    """The key to say `key` with: its stamp version to a stamp card's member, where it has one."""
    stamped = key + STAMPS
    return stamped if stamp_card and stamped in CATALOGUE else key


def text(key: str, language: str, /, **values: object) -> str:
    entry = CATALOGUE[key]
    template = entry.get(language) or entry["en"]
    return template.format(**values) if values else template
