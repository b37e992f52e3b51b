// Exceptions mirroring the efm_result groups (the hundreds digit of the code).
using System;

namespace Eformidling
{
    /// <summary>An error from the efm library.</summary>
    [Serializable]
    public class EfmException : Exception
    {
        /// <summary>The stable efm_result code (see <see cref="Result"/> for its name).</summary>
        public uint Code { get; private set; }
        /// <summary>The result code by name.</summary>
        public ResultCode Result { get { return (ResultCode)Code; } }
        /// <summary>The input field or configuration key at fault (documents[0].path), or null.</summary>
        public string Field { get; private set; }
        /// <summary>The HTTP status of the remote answer, or 0.</summary>
        public int HttpStatus { get; private set; }
        /// <summary>The remote service's own error code, or null.</summary>
        public string RemoteCode { get; private set; }
        /// <summary>Whether trying again later may succeed.</summary>
        public bool Retryable { get; private set; }
        /// <summary>All structured detail as JSON.</summary>
        public string DetailJson { get; private set; }

        /// <summary>An internal error without detail.</summary>
        public EfmException() : this((uint)ResultCode.Internal, "efm failed") { }
        /// <summary>An internal error with a message.</summary>
        public EfmException(string message) : this((uint)ResultCode.Internal, message) { }
        /// <summary>An internal error with a message and its cause.</summary>
        public EfmException(string message, Exception inner) : this((uint)ResultCode.Internal, message, inner) { }

        /// <summary>An error with a code and the library's detail.</summary>
        public EfmException(uint code, string message, string field = null, int httpStatus = 0,
            string remoteCode = null, bool retryable = false, string detailJson = "{}")
            : this(code, message, null, field, httpStatus, remoteCode, retryable, detailJson) { }

        /// <summary>An error with a code, the library's detail and a cause.</summary>
        public EfmException(uint code, string message, Exception inner, string field = null, int httpStatus = 0,
            string remoteCode = null, bool retryable = false, string detailJson = "{}")
            : base(message, inner)
        {
            Code = code;
            Field = field;
            HttpStatus = httpStatus;
            RemoteCode = remoteCode;
            Retryable = retryable;
            DetailJson = detailJson ?? "{}";
        }

        /// <summary>Deserialisation.</summary>
        protected EfmException(System.Runtime.Serialization.SerializationInfo info, System.Runtime.Serialization.StreamingContext context)
            : base(info, context) { }
    }

    /// <summary>1xx: an argument was unusable (NULL, bad UTF-8, malformed JSON, an unknown member, a bad organisation number).</summary>
    [Serializable]
    public class InvalidInputException : EfmException
    {
        /// <summary>Without detail.</summary>
        public InvalidInputException() : base(100u, "efm: InvalidInputException", (Exception)null) { }
        /// <summary>With a message.</summary>
        public InvalidInputException(string message) : base(100u, message, (Exception)null) { }
        /// <summary>With a message and its cause.</summary>
        public InvalidInputException(string message, Exception inner) : base(100u, message, inner) { }
        /// <summary>With a code and the library's detail.</summary>
        public InvalidInputException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { }
        /// <summary>With a code, the library's detail and a cause.</summary>
        public InvalidInputException(uint c, string m, Exception inner, string f = null, int h = 0, string r = null, bool t = false, string d = "{}") : base(c, m, inner, f, h, r, t, d) { }
        /// <summary>Deserialisation.</summary>
        protected InvalidInputException(System.Runtime.Serialization.SerializationInfo info, System.Runtime.Serialization.StreamingContext context) : base(info, context) { }
    }

    /// <summary>106: the call was cancelled (CancellationToken, or the progress callback threw: see InnerException).</summary>
    [Serializable]
    public class CancelledException : InvalidInputException
    {
        /// <summary>Without detail.</summary>
        public CancelledException() : base(106u, "efm: CancelledException", (Exception)null) { }
        /// <summary>With a message.</summary>
        public CancelledException(string message) : base(106u, message, (Exception)null) { }
        /// <summary>With a message and its cause.</summary>
        public CancelledException(string message, Exception inner) : base(106u, message, inner) { }
        /// <summary>With a code and the library's detail.</summary>
        public CancelledException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { }
        /// <summary>With a code, the library's detail and a cause.</summary>
        public CancelledException(uint c, string m, Exception inner, string f = null, int h = 0, string r = null, bool t = false, string d = "{}") : base(c, m, inner, f, h, r, t, d) { }
        /// <summary>Deserialisation.</summary>
        protected CancelledException(System.Runtime.Serialization.SerializationInfo info, System.Runtime.Serialization.StreamingContext context) : base(info, context) { }
    }

    /// <summary>2xx: the configuration is wrong or incomplete.</summary>
    [Serializable]
    public class ConfigException : EfmException
    {
        /// <summary>Without detail.</summary>
        public ConfigException() : base(200u, "efm: ConfigException", (Exception)null) { }
        /// <summary>With a message.</summary>
        public ConfigException(string message) : base(200u, message, (Exception)null) { }
        /// <summary>With a message and its cause.</summary>
        public ConfigException(string message, Exception inner) : base(200u, message, inner) { }
        /// <summary>With a code and the library's detail.</summary>
        public ConfigException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { }
        /// <summary>With a code, the library's detail and a cause.</summary>
        public ConfigException(uint c, string m, Exception inner, string f = null, int h = 0, string r = null, bool t = false, string d = "{}") : base(c, m, inner, f, h, r, t, d) { }
        /// <summary>Deserialisation.</summary>
        protected ConfigException(System.Runtime.Serialization.SerializationInfo info, System.Runtime.Serialization.StreamingContext context) : base(info, context) { }
    }

    /// <summary>3xx: Maskinporten or Altinn refused us.</summary>
    [Serializable]
    public class AuthException : EfmException
    {
        /// <summary>Without detail.</summary>
        public AuthException() : base(300u, "efm: AuthException", (Exception)null) { }
        /// <summary>With a message.</summary>
        public AuthException(string message) : base(300u, message, (Exception)null) { }
        /// <summary>With a message and its cause.</summary>
        public AuthException(string message, Exception inner) : base(300u, message, inner) { }
        /// <summary>With a code and the library's detail.</summary>
        public AuthException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { }
        /// <summary>With a code, the library's detail and a cause.</summary>
        public AuthException(uint c, string m, Exception inner, string f = null, int h = 0, string r = null, bool t = false, string d = "{}") : base(c, m, inner, f, h, r, t, d) { }
        /// <summary>Deserialisation.</summary>
        protected AuthException(System.Runtime.Serialization.SerializationInfo info, System.Runtime.Serialization.StreamingContext context) : base(info, context) { }
    }

    /// <summary>4xx: the network failed.</summary>
    [Serializable]
    public class NetworkException : EfmException
    {
        /// <summary>Without detail.</summary>
        public NetworkException() : base(400u, "efm: NetworkException", (Exception)null) { }
        /// <summary>With a message.</summary>
        public NetworkException(string message) : base(400u, message, (Exception)null) { }
        /// <summary>With a message and its cause.</summary>
        public NetworkException(string message, Exception inner) : base(400u, message, inner) { }
        /// <summary>With a code and the library's detail.</summary>
        public NetworkException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { }
        /// <summary>With a code, the library's detail and a cause.</summary>
        public NetworkException(uint c, string m, Exception inner, string f = null, int h = 0, string r = null, bool t = false, string d = "{}") : base(c, m, inner, f, h, r, t, d) { }
        /// <summary>Deserialisation.</summary>
        protected NetworkException(System.Runtime.Serialization.SerializationInfo info, System.Runtime.Serialization.StreamingContext context) : base(info, context) { }
    }

    /// <summary>5xx: a remote service answered with an error.</summary>
    [Serializable]
    public class RemoteServiceException : EfmException
    {
        /// <summary>Without detail.</summary>
        public RemoteServiceException() : base(500u, "efm: RemoteServiceException", (Exception)null) { }
        /// <summary>With a message.</summary>
        public RemoteServiceException(string message) : base(500u, message, (Exception)null) { }
        /// <summary>With a message and its cause.</summary>
        public RemoteServiceException(string message, Exception inner) : base(500u, message, inner) { }
        /// <summary>With a code and the library's detail.</summary>
        public RemoteServiceException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { }
        /// <summary>With a code, the library's detail and a cause.</summary>
        public RemoteServiceException(uint c, string m, Exception inner, string f = null, int h = 0, string r = null, bool t = false, string d = "{}") : base(c, m, inner, f, h, r, t, d) { }
        /// <summary>Deserialisation.</summary>
        protected RemoteServiceException(System.Runtime.Serialization.SerializationInfo info, System.Runtime.Serialization.StreamingContext context) : base(info, context) { }
    }

    /// <summary>6xx: keys, certificates, signatures or encryption.</summary>
    [Serializable]
    public class CryptoException : EfmException
    {
        /// <summary>Without detail.</summary>
        public CryptoException() : base(600u, "efm: CryptoException", (Exception)null) { }
        /// <summary>With a message.</summary>
        public CryptoException(string message) : base(600u, message, (Exception)null) { }
        /// <summary>With a message and its cause.</summary>
        public CryptoException(string message, Exception inner) : base(600u, message, inner) { }
        /// <summary>With a code and the library's detail.</summary>
        public CryptoException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { }
        /// <summary>With a code, the library's detail and a cause.</summary>
        public CryptoException(uint c, string m, Exception inner, string f = null, int h = 0, string r = null, bool t = false, string d = "{}") : base(c, m, inner, f, h, r, t, d) { }
        /// <summary>Deserialisation.</summary>
        protected CryptoException(System.Runtime.Serialization.SerializationInfo info, System.Runtime.Serialization.StreamingContext context) : base(info, context) { }
    }

    /// <summary>7xx: a malformed or unsafe package.</summary>
    [Serializable]
    public class PackageException : EfmException
    {
        /// <summary>Without detail.</summary>
        public PackageException() : base(700u, "efm: PackageException", (Exception)null) { }
        /// <summary>With a message.</summary>
        public PackageException(string message) : base(700u, message, (Exception)null) { }
        /// <summary>With a message and its cause.</summary>
        public PackageException(string message, Exception inner) : base(700u, message, inner) { }
        /// <summary>With a code and the library's detail.</summary>
        public PackageException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { }
        /// <summary>With a code, the library's detail and a cause.</summary>
        public PackageException(uint c, string m, Exception inner, string f = null, int h = 0, string r = null, bool t = false, string d = "{}") : base(c, m, inner, f, h, r, t, d) { }
        /// <summary>Deserialisation.</summary>
        protected PackageException(System.Runtime.Serialization.SerializationInfo info, System.Runtime.Serialization.StreamingContext context) : base(info, context) { }
    }

    /// <summary>8xx: the local data directory.</summary>
    [Serializable]
    public class StorageException : EfmException
    {
        /// <summary>Without detail.</summary>
        public StorageException() : base(800u, "efm: StorageException", (Exception)null) { }
        /// <summary>With a message.</summary>
        public StorageException(string message) : base(800u, message, (Exception)null) { }
        /// <summary>With a message and its cause.</summary>
        public StorageException(string message, Exception inner) : base(800u, message, inner) { }
        /// <summary>With a code and the library's detail.</summary>
        public StorageException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { }
        /// <summary>With a code, the library's detail and a cause.</summary>
        public StorageException(uint c, string m, Exception inner, string f = null, int h = 0, string r = null, bool t = false, string d = "{}") : base(c, m, inner, f, h, r, t, d) { }
        /// <summary>Deserialisation.</summary>
        protected StorageException(System.Runtime.Serialization.SerializationInfo info, System.Runtime.Serialization.StreamingContext context) : base(info, context) { }
    }

    /// <summary>9xx: a bug in efm.</summary>
    [Serializable]
    public class InternalException : EfmException
    {
        /// <summary>Without detail.</summary>
        public InternalException() : base(900u, "efm: InternalException", (Exception)null) { }
        /// <summary>With a message.</summary>
        public InternalException(string message) : base(900u, message, (Exception)null) { }
        /// <summary>With a message and its cause.</summary>
        public InternalException(string message, Exception inner) : base(900u, message, inner) { }
        /// <summary>With a code and the library's detail.</summary>
        public InternalException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { }
        /// <summary>With a code, the library's detail and a cause.</summary>
        public InternalException(uint c, string m, Exception inner, string f = null, int h = 0, string r = null, bool t = false, string d = "{}") : base(c, m, inner, f, h, r, t, d) { }
        /// <summary>Deserialisation.</summary>
        protected InternalException(System.Runtime.Serialization.SerializationInfo info, System.Runtime.Serialization.StreamingContext context) : base(info, context) { }
    }

    /// <summary>901: efm panicked; the panic was caught and this process is unaffected.</summary>
    [Serializable]
    public class PanicException : InternalException
    {
        /// <summary>Without detail.</summary>
        public PanicException() : base(901u, "efm: PanicException", (Exception)null) { }
        /// <summary>With a message.</summary>
        public PanicException(string message) : base(901u, message, (Exception)null) { }
        /// <summary>With a message and its cause.</summary>
        public PanicException(string message, Exception inner) : base(901u, message, inner) { }
        /// <summary>With a code and the library's detail.</summary>
        public PanicException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { }
        /// <summary>With a code, the library's detail and a cause.</summary>
        public PanicException(uint c, string m, Exception inner, string f = null, int h = 0, string r = null, bool t = false, string d = "{}") : base(c, m, inner, f, h, r, t, d) { }
        /// <summary>Deserialisation.</summary>
        protected PanicException(System.Runtime.Serialization.SerializationInfo info, System.Runtime.Serialization.StreamingContext context) : base(info, context) { }
    }

    /// <summary>The native library is missing, not libefm, or of another ABI revision (code 900).</summary>
    [Serializable]
    public class LibraryLoadException : EfmException
    {
        /// <summary>Without detail.</summary>
        public LibraryLoadException() : base(900u, "efm: LibraryLoadException", (Exception)null) { }
        /// <summary>With a message.</summary>
        public LibraryLoadException(string message) : base(900u, message, (Exception)null) { }
        /// <summary>With a message and its cause.</summary>
        public LibraryLoadException(string message, Exception inner) : base(900u, message, inner) { }
        /// <summary>With a code and the library's detail.</summary>
        public LibraryLoadException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { }
        /// <summary>With a code, the library's detail and a cause.</summary>
        public LibraryLoadException(uint c, string m, Exception inner, string f = null, int h = 0, string r = null, bool t = false, string d = "{}") : base(c, m, inner, f, h, r, t, d) { }
        /// <summary>Deserialisation.</summary>
        protected LibraryLoadException(System.Runtime.Serialization.SerializationInfo info, System.Runtime.Serialization.StreamingContext context) : base(info, context) { }
    }

    internal static class Check
    {
        internal const uint Panic = 901;

        /// <summary>Throw for a non-zero result, consuming the error object.</summary>
        internal static void Result(uint code, ErrorHandle error)
        {
            if (code == 0)
            {
                if (error != null) error.Dispose();
                return;
            }
            using (error)
            {
                string message, field = null, remote = null, detail = "{}";
                int http = 0;
                bool retry = false;
                if (error != null && !error.IsInvalid)
                {
                    message = Utf8.Decode(Native.efm_error_message(error));
                    field = Utf8.Decode(Native.efm_error_field(error));
                    remote = Utf8.Decode(Native.efm_error_remote_code(error));
                    detail = Utf8.Decode(Native.efm_error_detail_json(error));
                    http = Native.efm_error_http_status(error);
                    retry = Native.efm_error_retryable(error);
                }
                else
                {
                    message = "efm call failed with code " + code + " (" + Utf8.Decode(Native.efm_result_group(code)) + ")";
                }
                throw Create(code, message, field, http, remote, retry, detail);
            }
        }

        internal static EfmException Create(uint c, string m, string f, int h, string r, bool t, string d)
        {
            if (c == Panic) return new PanicException(c, m, f, h, r, t, d);
            if (c == (uint)ResultCode.Cancelled) return new CancelledException(c, m, f, h, r, t, d);
            switch (c / 100)
            {
                case 1: return new InvalidInputException(c, m, f, h, r, t, d);
                case 2: return new ConfigException(c, m, f, h, r, t, d);
                case 3: return new AuthException(c, m, f, h, r, t, d);
                case 4: return new NetworkException(c, m, f, h, r, t, d);
                case 5: return new RemoteServiceException(c, m, f, h, r, t, d);
                case 6: return new CryptoException(c, m, f, h, r, t, d);
                case 7: return new PackageException(c, m, f, h, r, t, d);
                case 8: return new StorageException(c, m, f, h, r, t, d);
                default: return new InternalException(c, m, f, h, r, t, d);
            }
        }
    }
}
