// P/Invoke declarations for libefm (include/efm.h). Cdecl everywhere; strings cross as UTF-8 bytes
// marshalled by hand (Utf8 below), so the source stays compatible with netstandard2.0 and .NET
// Framework 4.x, which lack UnmanagedType.LPUTF8Str on some runtimes.
using System;
using System.Runtime.InteropServices;

namespace Eformidling
{
    internal static class Native
    {
        internal const string Library = "efm";

        /// <summary>The ABI revision these declarations were written for (EFM_ABI_VERSION).</summary>
        internal const uint AbiVersion = 2;

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void LogCallback(IntPtr userdata, uint level, IntPtr message, UIntPtr len);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr efm_version();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_abi_version();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr efm_result_group(uint result);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_diagnostic_panic(out ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_error_code(ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr efm_error_message(ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr efm_error_detail_json(ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern ushort efm_error_http_status(ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr efm_error_remote_code(ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr efm_error_field(ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        [return: MarshalAs(UnmanagedType.I1)]
        internal static extern bool efm_error_retryable(ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void efm_error_free(IntPtr error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void efm_string_free(IntPtr s);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_set_logger(LogCallback callback, IntPtr userdata, uint maxLevel);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_config_validate(byte[] configJson, out IntPtr summaryJson, out ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_client_new(byte[] configJson, out ClientHandle client, out ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_client_new_for_organisation(byte[] configJson, byte[] organisationNumber, out ClientHandle client, out ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_client_config_json(ClientHandle client, out IntPtr json, out ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_client_lookup(ClientHandle client, byte[] organisationNumber, byte[] process, out IntPtr capabilitiesJson, out ErrorHandle error);

        /// <summary>Returns true to go on, false to cancel the call (EFM_RESULT_CANCELLED).</summary>
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        [return: MarshalAs(UnmanagedType.I1)]
        internal delegate bool ProgressCallback(IntPtr userdata, ulong done, ulong total);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_client_send(ClientHandle client, byte[] requestJson, ProgressCallback progress, IntPtr userdata, out IntPtr messageJson, out ErrorHandle error);

        /// <summary>`phase`: 1 packing (document bytes), 2 uploading (package bytes). Returns true
        /// to go on, false to cancel the call (EFM_RESULT_CANCELLED).</summary>
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        [return: MarshalAs(UnmanagedType.I1)]
        internal delegate bool PhaseCallback(IntPtr userdata, uint phase, ulong done, ulong total);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_client_send_by_phase(ClientHandle client, byte[] requestJson, PhaseCallback progress, IntPtr userdata, out IntPtr messageJson, out ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_client_resend(ClientHandle client, byte[] messageId, ProgressCallback progress, IntPtr userdata, out IntPtr messageJson, out ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_client_poll(ClientHandle client, out IntPtr summaryJson, out ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_client_peek(ClientHandle client, out IntPtr messageJson, out ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_client_pop(ClientHandle client, byte[] messageId, byte[] targetDir, out IntPtr openedJson, out ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_client_delete(ClientHandle client, byte[] messageId, out IntPtr messageJson, out ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_client_status(ClientHandle client, byte[] messageId, out IntPtr historyJson, out ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_client_messages(ClientHandle client, byte[] filterJson, out IntPtr messagesJson, out ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_client_expire(ClientHandle client, out IntPtr expiredJson, out ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_client_run_due(ClientHandle client, out IntPtr summaryJson, out ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_client_quarantine(ClientHandle client, out IntPtr entriesJson, out ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_client_quarantine_export(ClientHandle client, long id, byte[] destPath, out ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_client_quarantine_retry(ClientHandle client, long id, out IntPtr outcomeJson, out ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint efm_client_quarantine_delete(ClientHandle client, long id, out ErrorHandle error);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void efm_client_free(IntPtr client);
    }

    /// <summary>UTF-8 conversions for strings crossing the C ABI.</summary>
    internal static class Utf8
    {
        /// <summary>A NUL-terminated UTF-8 copy of <paramref name="s"/>; a NUL inside is refused (C would
        /// see the string end there and act on a shorter id).</summary>
        internal static byte[] Encode(string s, string name = "argument")
        {
            if (s == null) return null;
            if (s.IndexOf('\0') >= 0)
                throw new InvalidInputException((uint)ResultCode.InvalidArgument, name + " contains a NUL character", name, 0, null, false, "{}");
            var bytes = System.Text.Encoding.UTF8.GetBytes(s);
            var z = new byte[bytes.Length + 1];
            Buffer.BlockCopy(bytes, 0, z, 0, bytes.Length);
            return z;
        }

        /// <summary>Decode a borrowed NUL-terminated UTF-8 string; null for a NULL pointer.</summary>
        internal static string Decode(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            int len = 0;
            while (Marshal.ReadByte(p, len) != 0) len++;
            return Decode(p, len);
        }

        internal static string Decode(IntPtr p, int len)
        {
            var bytes = new byte[len];
            Marshal.Copy(p, bytes, 0, len);
            return System.Text.Encoding.UTF8.GetString(bytes);
        }

        /// <summary>Copy and release a string the library handed over.</summary>
        internal static string Take(IntPtr p)
        {
            try { return Decode(p); }
            finally { if (p != IntPtr.Zero) Native.efm_string_free(p); }
        }
    }
}
