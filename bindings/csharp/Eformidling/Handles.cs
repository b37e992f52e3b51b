// One SafeHandle per native handle type: release happens exactly once, even on finalisation.
using System;
using System.Runtime.InteropServices;

namespace Eformidling
{
    internal sealed class ErrorHandle : SafeHandle
    {
        public ErrorHandle() : base(IntPtr.Zero, true) { }
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
        protected override bool ReleaseHandle()
        {
            Native.efm_error_free(handle);
            return true;
        }
    }

    internal sealed class ClientHandle : SafeHandle
    {
        public ClientHandle() : base(IntPtr.Zero, true) { }
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
        protected override bool ReleaseHandle()
        {
            Native.efm_client_free(handle);
            return true;
        }
    }
}
