"""The email channel: mail in over SMTP (aiosmtpd) and IMAP (aioimaplib), replies out through
an SMTP relay (aiosmtplib).

Modules, one job each: :mod:`~trunkline_email.settings` (the channel's settings),
:mod:`~trunkline_email.parse` (raw bytes to sender, subject, text, parts; never raises),
:mod:`~trunkline_email.html_text` (HTML to safe text), :mod:`~trunkline_email.threads`
(which conversation a message belongs to), :mod:`~trunkline_email.loops` (RFC 3834 noise and
mail loops), :mod:`~trunkline_email.auth_results` (SPF, DKIM, DMARC),
:mod:`~trunkline_email.bounces` (delivery status notifications), :mod:`~trunkline_email.files`
(parts and raw messages kept by SHA-256), :mod:`~trunkline_email.state` (the thread index and
IMAP positions), :mod:`~trunkline_email.smtp_server` (the SMTP listener),
:mod:`~trunkline_email.imap` (IMAP polling), :mod:`~trunkline_email.outbound` (replies to the
relay), :mod:`~trunkline_email.adapter` (the channel adapter tying them together) and
:mod:`~trunkline_email.plugin` (the entry point, which imports nothing heavy).
"""
