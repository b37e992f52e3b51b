// Retargets an assembly compiled against mscorlib to netstandard 2.0 (used by
// scripts/build-csharp.sh when no .NET SDK is installed). Every type reference scoped to mscorlib
// then names netstandard, which defines the same types under the same names; the build script
// checks that nothing else is referenced.
// Usage: mono RetargetNetstandard.exe IN.dll OUT.dll
using System;
using System.Linq;
using Mono.Cecil;

static class RetargetNetstandard
{
    static int Main(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine("usage: RetargetNetstandard IN.dll OUT.dll");
            return 2;
        }
        using (var module = ModuleDefinition.ReadModule(args[0]))
        {
            var refs = module.AssemblyReferences;
            var other = refs.Where(r => r.Name != "mscorlib").Select(r => r.Name).ToArray();
            if (other.Length > 0)
            {
                Console.Error.WriteLine("cannot retarget: the assembly also references " + string.Join(", ", other));
                return 1;
            }
            foreach (var r in refs)
            {
                r.Name = "netstandard";
                r.Version = new Version(2, 0, 0, 0);
                r.PublicKeyToken = new byte[] { 0xcc, 0x7b, 0x13, 0xff, 0xcd, 0x2d, 0xdd, 0x51 };
            }
            module.Write(args[1]);
        }
        return 0;
    }
}
