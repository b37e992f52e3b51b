// Typed requests and results of the client's calls (the JSON forms are in the repository's
// schema/ folder). Results keep the JSON they were read from in RawJson; members a newer library
// adds stay there.
using System;
using System.Collections.Generic;
using System.Globalization;

namespace Eformidling
{
    /// <summary>Which way a message went.</summary>
    public enum Direction { Outgoing, Incoming }

    /// <summary>A message's status (the integration point's ReceiptStatus).</summary>
    public enum MessageStatus
    {
        Opprettet, Sendt, Mottatt, Levert, Lest, Feil, InnkommendeMottatt, InnkommendeLevert, LevetidUtlopt,
        /// <summary>A status text this version does not know.</summary>
        Annet,
    }

    /// <summary>What a send is busy with (efm_phase).</summary>
    public enum TransferPhase
    {
        /// <summary>Building the package: documents read, hashed, signed and encrypted in one pass;
        /// Done and Total count document bytes.</summary>
        Packing = 1,
        /// <summary>Sending the package to the broker; Done and Total count package bytes.</summary>
        Uploading = 2,
    }

    /// <summary>How far a transfer has got. A send reports Packing, then Uploading, each phase counting
    /// from 0 to its own Total, so a long send never looks stuck; a resend only uploads.</summary>
    public struct TransferProgress
    {
        /// <summary>The phase these bytes belong to.</summary>
        public TransferPhase Phase { get; private set; }
        /// <summary>Bytes done in this phase.</summary>
        public ulong Done { get; private set; }
        /// <summary>Bytes in all in this phase (0 when unknown).</summary>
        public ulong Total { get; private set; }
        /// <summary>A progress report of an upload.</summary>
        public TransferProgress(ulong done, ulong total) : this(TransferPhase.Uploading, done, total) { }
        /// <summary>A progress report of one phase.</summary>
        public TransferProgress(TransferPhase phase, ulong done, ulong total) : this() { Phase = phase; Done = done; Total = total; }
        /// <summary>"Packing 10/20".</summary>
        public override string ToString() { return Phase + " " + Done + "/" + Total; }
    }

    /// <summary>One file to send.</summary>
    public sealed class SendDocument
    {
        /// <summary>The name inside the package (arkivmelding.xml, brev.pdf).</summary>
        public string Name { get; set; }
        /// <summary>Where the file is now (any path, e.g. C:\Arkiv\vedtak.pdf).</summary>
        public string Path { get; set; }
        /// <summary>MIME type; guessed from the name when null.</summary>
        public string Mime { get; set; }
        /// <summary>A document to send.</summary>
        public SendDocument(string name, string path) { Name = name; Path = path; }
    }

    /// <summary>What to send: the fields of an arkivmelding message (or a complete SBD as JSON).</summary>
    public sealed class SendRequest
    {
        /// <summary>The receiver's organisation number.</summary>
        public string Receiver { get; set; }
        /// <summary>The documents; one must be arkivmelding.xml for an arkivmelding.</summary>
        public IList<SendDocument> Documents { get; private set; }
        /// <summary>The process (default: arkivmelding administrasjon).</summary>
        public string Process { get; set; }
        /// <summary>A UUID; a new one when null.</summary>
        public string ConversationId { get; set; }
        /// <summary>A UUID; a new one when null.</summary>
        public string MessageId { get; set; }
        /// <summary>The primary document's name (default arkivmelding.xml).</summary>
        public string Hoveddokument { get; set; }
        /// <summary>Lifetime (default 24 h, at most ten years), whole seconds.</summary>
        public TimeSpan? TimeToLive { get; set; }
        /// <summary>The sender's own reference.</summary>
        public string SenderRef { get; set; }
        /// <summary>The receiver's reference.</summary>
        public string ReceiverRef { get; set; }
        /// <summary>A complete SBD as JSON instead of the fields above (advanced).</summary>
        public string SbdJson { get; set; }

        /// <summary>A request to <paramref name="receiver"/> with the given documents.</summary>
        public SendRequest(string receiver, params SendDocument[] documents)
        {
            Receiver = receiver;
            Documents = new List<SendDocument>(documents ?? new SendDocument[0]);
        }

        /// <summary>Add a document (name inside the package, path of the file).</summary>
        public SendRequest Add(string name, string path) { Documents.Add(new SendDocument(name, path)); return this; }

        /// <summary>The request as the library's JSON (schema/send_request.schema.json).</summary>
        public string ToJson()
        {
            var docs = new List<string>();
            foreach (var d in Documents)
                docs.Add(new JsonWriter().Member("name", d.Name).Member("path", d.Path).Member("mime", d.Mime).ToString());
            return new JsonWriter()
                .Raw("sbd", SbdJson)
                .Member("receiver", Receiver)
                .Member("process", Process)
                .Member("conversation_id", ConversationId)
                .Member("message_id", MessageId)
                .Member("hoveddokument", Hoveddokument)
                .Member("ttl_secs", TimeToLive.HasValue ? (long?)(long)TimeToLive.Value.TotalSeconds : null)
                .Member("sender_ref", SenderRef)
                .Member("receiver_ref", ReceiverRef)
                .Raw("documents", "[" + string.Join(",", docs) + "]")
                .ToString();
        }
    }

    /// <summary>Which messages to list; null members match everything.</summary>
    public sealed class MessageFilter
    {
        /// <summary>Outgoing or incoming.</summary>
        public Direction? Direction { get; set; }
        /// <summary>One conversation.</summary>
        public string ConversationId { get; set; }
        /// <summary>One message.</summary>
        public string MessageId { get; set; }
        /// <summary>The current status.</summary>
        public MessageStatus? Status { get; set; }
        /// <summary>At most this many, newest first.</summary>
        public uint? Limit { get; set; }

        /// <summary>The filter as the library's JSON (schema/message_filter.schema.json).</summary>
        public string ToJson()
        {
            return new JsonWriter()
                .Member("direction", Direction.HasValue ? Names.Of(Direction.Value) : null)
                .Member("conversation_id", ConversationId)
                .Member("message_id", MessageId)
                .Member("status", Status.HasValue ? Names.Of(Status.Value) : null)
                .Member("limit", Limit.HasValue ? (long?)Limit.Value : null)
                .ToString();
        }
    }

    /// <summary>The library's SCREAMING_SNAKE_CASE names of the enumerations.</summary>
    internal static class Names
    {
        internal static string Of(Direction d) { return d == Direction.Outgoing ? "OUTGOING" : "INCOMING"; }

        internal static string Of(MessageStatus s)
        {
            var name = s.ToString();
            var sb = new System.Text.StringBuilder();
            for (int i = 0; i < name.Length; i++)
            {
                if (i > 0 && char.IsUpper(name[i])) sb.Append('_');
                sb.Append(char.ToUpperInvariant(name[i]));
            }
            return sb.ToString();
        }

        internal static MessageStatus ReadStatus(string text)
        {
            foreach (MessageStatus s in Enum.GetValues(typeof(MessageStatus)))
                if (Of(s) == text) return s;
            return MessageStatus.Annet;
        }

        internal static Direction ReadDirection(string text) { return text == "INCOMING" ? Direction.Incoming : Direction.Outgoing; }

        /// <summary>A lower-case name of the library's JSON (sandbox, altinn3) as the enum member of that
        /// name; a name this version does not know is a FormatException naming the member.</summary>
        internal static T Read<T>(string text, string member) where T : struct
        {
            T value;
            if (!string.IsNullOrEmpty(text) && char.IsLetter(text[0]) && text == text.ToLowerInvariant() && Enum.TryParse(text, true, out value) && Enum.IsDefined(typeof(T), value))
                return value;
            throw new FormatException("unknown " + member + " \"" + text + "\" in the library's answer");
        }
    }

    /// <summary>Base of the results: the JSON as read.</summary>
    public abstract class Record
    {
        /// <summary>The JSON this result was read from.</summary>
        public string RawJson { get; private set; }
        internal readonly Dictionary<string, object> Json;

        internal Record(Dictionary<string, object> json, string raw) { Json = json; RawJson = raw; }

        internal string Str(string key) { object v; return Json.TryGetValue(key, out v) && v != null ? Convert.ToString(v, CultureInfo.InvariantCulture) : null; }
        internal long Long(string key) { object v; return Json.TryGetValue(key, out v) && v != null ? Convert.ToInt64(v, CultureInfo.InvariantCulture) : 0; }
        internal bool Bool(string key) { object v; return Json.TryGetValue(key, out v) && v is bool && (bool)v; }
        internal List<object> List(string key) { object v; return Json.TryGetValue(key, out v) && v is List<object> ? (List<object>)v : new List<object>(); }

        internal static Dictionary<string, object> Obj(object o) { return o as Dictionary<string, object> ?? new Dictionary<string, object>(); }
        internal Dictionary<string, object> Member(string key) { object v; return Obj(Json.TryGetValue(key, out v) ? v : null); }

        /// <summary>The JSON text.</summary>
        public override string ToString() { return RawJson; }
    }

    /// <summary>One message as the local store has it.</summary>
    public class MessageInfo : Record
    {
        internal MessageInfo(Dictionary<string, object> j, string raw) : base(j, raw) { }
        internal static MessageInfo Read(string json) { return new MessageInfo(JsonReader.ParseObject(json), json); }
        /// <summary>Outgoing or incoming.</summary>
        public Direction Direction { get { return Names.ReadDirection(Str("direction")); } }
        /// <summary>The SBD's messageId.</summary>
        public string MessageId { get { return Str("message_id"); } }
        /// <summary>The SBD's conversationId.</summary>
        public string ConversationId { get { return Str("conversation_id"); } }
        /// <summary>The process.</summary>
        public string Process { get { return Str("process"); } }
        /// <summary>arkivmelding, status, ...</summary>
        public string DocumentType { get { return Str("document_type"); } }
        /// <summary>0192:orgnr of the sender.</summary>
        public string Sender { get { return Str("sender"); } }
        /// <summary>0192:orgnr of the receiver.</summary>
        public string Receiver { get { return Str("receiver"); } }
        /// <summary>The current status.</summary>
        public MessageStatus Status { get { return Names.ReadStatus(Str("status")); } }
        /// <summary>When it was recorded (ISO 8601).</summary>
        public string Created { get { return Str("created"); } }
        /// <summary>When its status last changed (ISO 8601).</summary>
        public string LastUpdate { get { return Str("last_update"); } }
        /// <summary>expectedResponseDateTime, or null.</summary>
        public string Expires { get { return Str("expires"); } }
        /// <summary>The broker's transfer id, or null.</summary>
        public string TransferId { get { return Str("transfer_id"); } }
    }

    /// <summary>A message in the incoming queue, locked for this caller.</summary>
    public sealed class IncomingMessage : MessageInfo
    {
        internal IncomingMessage(Dictionary<string, object> j, string raw) : base(j, raw) { }
        internal static new IncomingMessage Read(string json) { return json == null ? null : new IncomingMessage(JsonReader.ParseObject(json), json); }
        /// <summary>The lock holds until then (ISO 8601).</summary>
        public string LockedUntil { get { return Str("locked_until"); } }
    }

    /// <summary>One entry of a status history.</summary>
    public sealed class StatusEntry : Record
    {
        internal StatusEntry(Dictionary<string, object> j) : base(j, null) { }
        /// <summary>The status.</summary>
        public MessageStatus Status { get { return Names.ReadStatus(Str("status")); } }
        /// <summary>When (ISO 8601).</summary>
        public string Time { get { return Str("time"); } }
        /// <summary>Why, for FEIL and LEVETID_UTLOPT.</summary>
        public string Description { get { return Str("description"); } }
        internal static List<StatusEntry> ReadAll(string json)
        {
            var list = new List<StatusEntry>();
            foreach (var o in (List<object>)JsonReader.Parse(json)) list.Add(new StatusEntry(Obj(o)));
            return list;
        }
    }

    /// <summary>A transfer a poll could not finish, or a receipt it could not send yet.</summary>
    public sealed class PollError : Record
    {
        internal PollError(Dictionary<string, object> j) : base(j, null) { }
        /// <summary>The broker transfer, or null.</summary>
        public string TransferId { get { return Str("transfer_id"); } }
        /// <summary>The message, or null.</summary>
        public string MessageId { get { return Str("message_id"); } }
        /// <summary>The result code.</summary>
        public ResultCode Code { get { return (ResultCode)Long("code"); } }
        /// <summary>What went wrong.</summary>
        public string Message { get { return Str("message"); } }
        /// <summary>Whether the next poll tries again.</summary>
        public bool Retryable { get { return Bool("retryable"); } }
    }

    /// <summary>What one poll did.</summary>
    public sealed class PollSummary : Record
    {
        internal PollSummary(Dictionary<string, object> j, string raw) : base(j, raw) { }
        internal static PollSummary Read(string json) { return new PollSummary(JsonReader.ParseObject(json), json); }
        /// <summary>messageIds of new messages in the incoming queue.</summary>
        public IList<string> Received { get { return List("received").ConvertAll(o => (string)o); } }
        /// <summary>Status and receipt messages applied.</summary>
        public long Statuses { get { return Long("statuses"); } }
        /// <summary>Transfers already had.</summary>
        public long Duplicates { get { return Long("duplicates"); } }
        /// <summary>Statuses and receipts not applied (not from the organisation the message went to); kept in quarantine.</summary>
        public long Ignored { get { return Long("ignored"); } }
        /// <summary>Unreadable packages kept in quarantine (see Client.Quarantine).</summary>
        public long Quarantined { get { return Long("quarantined"); } }
        /// <summary>Whether the broker has more waiting (or asked us to slow down): poll again.</summary>
        public bool MoreWaiting { get { return Bool("more_waiting"); } }
        /// <summary>Receipts sent.</summary>
        public long ReceiptsSent { get { return Long("receipts_sent"); } }
        /// <summary>What failed this time (tried again next poll).</summary>
        public IList<PollError> Errors { get { return List("errors").ConvertAll(o => new PollError(Obj(o))); } }
    }

    /// <summary>One extracted document.</summary>
    public sealed class OpenedFile : Record
    {
        internal OpenedFile(Dictionary<string, object> j) : base(j, null) { }
        /// <summary>The name in the package.</summary>
        public string Name { get { return Str("name"); } }
        /// <summary>Where it was written.</summary>
        public string Path { get { return Str("path"); } }
        /// <summary>Its MIME type.</summary>
        public string Mime { get { return Str("mime"); } }
        /// <summary>Its size in bytes.</summary>
        public long Size { get { return Long("size"); } }
    }

    /// <summary>A message Pop decrypted, verified and extracted.</summary>
    public sealed class OpenedMessage : Record
    {
        internal OpenedMessage(Dictionary<string, object> j, string raw) : base(j, raw) { }
        internal static OpenedMessage Read(string json) { return new OpenedMessage(JsonReader.ParseObject(json), json); }
        /// <summary>The messageId.</summary>
        public string MessageId { get { return Str("message_id"); } }
        /// <summary>The conversationId.</summary>
        public string ConversationId { get { return Str("conversation_id"); } }
        /// <summary>The documents, written to the target directory.</summary>
        public IList<OpenedFile> Files { get { return List("files").ConvertAll(o => new OpenedFile(Obj(o))); } }
        /// <summary>Subject of the certificate that signed the package.</summary>
        public string Signer { get { return Str("signer"); } }
    }

    /// <summary>One process an organisation can receive, and how.</summary>
    public sealed class Capability : Record
    {
        internal Capability(Dictionary<string, object> j) : base(j, null) { }
        /// <summary>The process URN.</summary>
        public string Process { get { return Str("process"); } }
        /// <summary>DPO, DPV, DPF, DPE, DPI, DPH, ...</summary>
        public string ServiceIdentifier { get { return Str("service_identifier"); } }
        /// <summary>The document types.</summary>
        public IList<string> DocumentTypes { get { return List("document_types").ConvertAll(o => (string)o); } }
        /// <summary>Altinn service code.</summary>
        public string ServiceCode { get { return Str("service_code"); } }
        /// <summary>Altinn service edition code.</summary>
        public string ServiceEditionCode { get { return Str("service_edition_code"); } }
    }

    /// <summary>What the Service Registry says an organisation can receive (signed answer, verified).</summary>
    public sealed class Capabilities : Record
    {
        internal Capabilities(Dictionary<string, object> j, string raw) : base(j, raw) { }
        internal static Capabilities Read(string json) { return new Capabilities(JsonReader.ParseObject(json), json); }
        /// <summary>The organisation number.</summary>
        public string OrganisationNumber { get { return Str("organisation_number"); } }
        /// <summary>The name, when known.</summary>
        public string OrganisationName { get { return Str("organisation_name"); } }
        /// <summary>Always true: unsigned answers are refused.</summary>
        public bool Signed { get { return Bool("signed"); } }
        /// <summary>The processes it can receive.</summary>
        public IList<Capability> Items { get { return List("capabilities").ConvertAll(o => new Capability(Obj(o))); } }
    }

    /// <summary>Which eFormidling environment a configuration talks to.</summary>
    public enum EfmEnvironment
    {
        /// <summary>Digdir's and Altinn's production services.</summary>
        Production,
        /// <summary>Digdir's and Altinn's test environments (TT02).</summary>
        Test,
        /// <summary>The local efm sandbox (or any stand-in) at one base URL.</summary>
        Sandbox,
    }

    /// <summary>The broker a client sends over.</summary>
    public enum Transport
    {
        /// <summary>Altinn 3 Broker REST (today's route).</summary>
        Altinn3,
        /// <summary>The Altinn 2 SOAP broker (test and legacy installations).</summary>
        Altinn2,
    }

    /// <summary>Where the key comes from: a PKCS#12 file and where its password was read from (never
    /// the password), or a PEM certificate and key. The members of the other kind are null.</summary>
    public sealed class KeySummary : Record
    {
        internal KeySummary(Dictionary<string, object> j) : base(j, null)
        {
            if (Pkcs12 == null && CertificatePem == null)
                throw new FormatException("a key summary names neither pkcs12 nor certificate_pem");
        }
        /// <summary>The PKCS#12 file, or null.</summary>
        public string Pkcs12 { get { return Str("pkcs12"); } }
        /// <summary>Where the password was read from, in words ("credentials.pkcs12_password" in the configuration,
        /// environment variable NAME, file PATH); null for PEM files.</summary>
        public string PasswordFrom { get { return Str("password_from"); } }
        /// <summary>The PEM certificate file, or null.</summary>
        public string CertificatePem { get { return Str("certificate_pem"); } }
        /// <summary>The PEM private key file, or null.</summary>
        public string PrivateKeyPem { get { return Str("private_key_pem"); } }
    }

    /// <summary>The Altinn system user the client's tokens act as.</summary>
    public sealed class SystemUser : Record
    {
        internal SystemUser(Dictionary<string, object> j) : base(j, null) { }
        /// <summary>0192:orgnr.</summary>
        public string OrgId { get { return Str("org_id"); } }
        /// <summary>The system user's externalRef.</summary>
        public string Name { get { return Str("name"); } }
    }

    /// <summary>Every URL the client calls, from the environment's preset and any overrides.</summary>
    public sealed class ServiceUrls : Record
    {
        internal ServiceUrls(Dictionary<string, object> j) : base(j, null) { }
        /// <summary>Maskinporten's token endpoint.</summary>
        public string MaskinportenToken { get { return Str("maskinporten_token"); } }
        /// <summary>The grant's aud: Maskinporten's issuer exactly, trailing slash included.</summary>
        public string MaskinportenAudience { get { return Str("maskinporten_audience"); } }
        /// <summary>The Service Registry.</summary>
        public string ServiceRegistry { get { return Str("service_registry"); } }
        /// <summary>The Altinn 3 broker (REST).</summary>
        public string Altinn3Broker { get { return Str("altinn3_broker"); } }
        /// <summary>Altinn's exchange of a Maskinporten token for an Altinn token.</summary>
        public string AltinnTokenExchange { get { return Str("altinn_token_exchange"); } }
        /// <summary>The Altinn 2 broker's basic SOAP service.</summary>
        public string Altinn2BrokerBasic { get { return Str("altinn2_broker_basic"); } }
        /// <summary>The Altinn 2 broker's streamed SOAP service.</summary>
        public string Altinn2BrokerStreamed { get { return Str("altinn2_broker_streamed"); } }
    }

    /// <summary>A configuration as the library resolved it: absolute paths, the environment's URLs,
    /// and where secrets come from, never the secrets.</summary>
    public sealed class ConfigSummary : Record
    {
        internal ConfigSummary(Dictionary<string, object> j, string raw) : base(j, raw) { }
        internal static ConfigSummary Read(string json) { return new ConfigSummary(JsonReader.ParseObject(json), json); }
        /// <summary>The organisation number.</summary>
        public string OrganisationNumber { get { return Str("organisation_number"); } }
        /// <summary>Production, test or the sandbox.</summary>
        public EfmEnvironment Environment { get { return Names.Read<EfmEnvironment>(Str("environment"), "environment"); } }
        /// <summary>Altinn 3 or Altinn 2.</summary>
        public Transport Transport { get { return Names.Read<Transport>(Str("transport"), "transport"); } }
        /// <summary>Where efm keeps state and spool files (absolute).</summary>
        public string DataDir { get { return Str("data_dir"); } }
        /// <summary>The Maskinporten client id.</summary>
        public string ClientId { get { return Str("client_id"); } }
        /// <summary>Where the key comes from.</summary>
        public KeySummary Key { get { return new KeySummary(Member("key")); } }
        /// <summary>The registered key's id, when one is used instead of the certificate; else null.</summary>
        public string Kid { get { return Str("kid"); } }
        /// <summary>The Altinn system user.</summary>
        public SystemUser SystemUser { get { return new SystemUser(Member("system_user")); } }
        /// <summary>The configured MessageChannel, or null.</summary>
        public string MessageChannel { get { return Str("message_channel"); } }
        /// <summary>system, none or the proxy URL (a password in it shown as ***).</summary>
        public string Proxy { get { return Str("proxy"); } }
        /// <summary>The connect timeout.</summary>
        public TimeSpan ConnectTimeout { get { return Seconds("connect_secs"); } }
        /// <summary>The timeout of one request.</summary>
        public TimeSpan RequestTimeout { get { return Seconds("request_secs"); } }
        TimeSpan Seconds(string key)
        {
            object v;
            return Member("timeouts").TryGetValue(key, out v) ? TimeSpan.FromSeconds(Convert.ToInt64(v, CultureInfo.InvariantCulture)) : TimeSpan.Zero;
        }
        /// <summary>Every URL the client calls.</summary>
        public ServiceUrls Urls { get { return new ServiceUrls(Member("urls")); } }
    }
}
