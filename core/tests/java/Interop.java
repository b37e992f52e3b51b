// BouncyCastle + java.util.zip counterpart of the DPO package code, doing what the Java
// integration point does (efm-common `CreateCMSDocument`, `DecryptCMSDocument`, `CreateAsice`;
// efm-asic; Java's `ZipInputStream`). Run as a single-file program:
//   java -cp bcprov.jar:bcpkix.jar:bcutil.jar Interop.java <command> ...
// Commands:
//   check-asic FILE                       read an ASiC-E with ZipInputStream, verify its CAdES signature
//   open-package FILE P12 PASSWORD        read a wire zip, decrypt asic.zip (CMSEnvelopedDataParser), check-asic
//   make-package OUT SBD P12 PASSWORD RECIPIENT_PEM DOC...   (DOC: PATH, or ENTRY-NAME=PATH)
//                                         write an ASiC-E signed SHA1withRSA, CMS-encrypt it (AES-256-CBC,
//                                         RSAES-OAEP SHA-256) and wrap it in the wire zip, as the IP does

import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.security.*;
import java.security.cert.*;
import java.security.spec.MGF1ParameterSpec;
import java.util.*;
import java.util.zip.*;
import javax.crypto.spec.OAEPParameterSpec;
import javax.crypto.spec.PSource;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaCertStore;
import org.bouncycastle.cms.*;
import org.bouncycastle.cms.jcajce.*;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.operator.jcajce.JcaAlgorithmParametersConverter;

public class Interop {
    public static void main(String[] a) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        switch (a[0]) {
            case "check-asic": checkAsic(Files.newInputStream(Paths.get(a[1]))); break;
            case "open-package": openPackage(a[1], a[2], a[3]); break;
            case "make-package": makePackage(a); break;
            default: throw new IllegalArgumentException(a[0]);
        }
    }

    static byte[] readAll(InputStream in) throws IOException { return in.readAllBytes(); }

    static void checkAsic(InputStream raw) throws Exception {
        ZipInputStream zin = new ZipInputStream(raw, StandardCharsets.UTF_8);
        Map<String, byte[]> entries = new LinkedHashMap<>();
        ZipEntry e;
        while ((e = zin.getNextEntry()) != null) {
            if (entries.isEmpty()) {
                if (!e.getName().equals("mimetype") || e.getMethod() != ZipEntry.STORED)
                    throw new IllegalStateException("first entry is not a STORED mimetype: " + e.getName());
            }
            entries.put(e.getName(), readAll(zin));
        }
        String mimetype = new String(entries.get("mimetype"), StandardCharsets.US_ASCII);
        if (!mimetype.equals("application/vnd.etsi.asic-e+zip")) throw new IllegalStateException("mimetype " + mimetype);
        byte[] manifest = entries.get("META-INF/ASiCManifest.xml");
        byte[] p7s = null;
        for (Map.Entry<String, byte[]> en : entries.entrySet())
            if (en.getKey().startsWith("META-INF/signature") && en.getKey().endsWith(".p7s")) p7s = en.getValue();
        CMSSignedData sd = new CMSSignedData(new CMSProcessableByteArray(manifest), p7s);
        SignerInformation si = sd.getSignerInfos().getSigners().iterator().next();
        @SuppressWarnings("unchecked")
        X509CertificateHolder cert = (X509CertificateHolder) sd.getCertificates().getMatches(si.getSID()).iterator().next();
        if (!si.verify(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(cert)))
            throw new IllegalStateException("signature does not verify");
        // Every data file's SHA-256 appears in the signed manifest.
        String m = new String(manifest, StandardCharsets.UTF_8);
        for (Map.Entry<String, byte[]> en : entries.entrySet()) {
            String n = en.getKey();
            if (n.equals("mimetype") || n.startsWith("META-INF/")) continue;
            String digest = Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-256").digest(en.getValue()));
            if (!m.contains(digest)) throw new IllegalStateException("digest of " + n + " not in manifest");
        }
        System.out.println("OK signer=" + cert.getSubject() + " digest=" + si.getDigestAlgOID()
            + " sigalg=" + si.getEncryptionAlgOID() + " entries=" + String.join(",", entries.keySet()));
    }

    static KeyStore.PrivateKeyEntry p12(String path, String password) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(Paths.get(path))) { ks.load(in, password.toCharArray()); }
        String alias = ks.aliases().nextElement();
        return (KeyStore.PrivateKeyEntry) ks.getEntry(alias, new KeyStore.PasswordProtection(password.toCharArray()));
    }

    static void openPackage(String path, String p12, String password) throws Exception {
        KeyStore.PrivateKeyEntry key = p12(p12, password);
        ZipInputStream zin = new ZipInputStream(Files.newInputStream(Paths.get(path)), StandardCharsets.UTF_8);
        ZipEntry e;
        List<String> names = new ArrayList<>();
        byte[] plain = null;
        while ((e = zin.getNextEntry()) != null) {
            names.add(e.getName());
            if (e.getName().equals("asic.zip")) {
                // As DecryptCMSDocument: streaming parser, first recipient.
                CMSEnvelopedDataParser p = new CMSEnvelopedDataParser(new ByteArrayInputStream(readAll(zin)));
                RecipientInformation ri = p.getRecipientInfos().getRecipients().iterator().next();
                CMSTypedStream ts = ri.getContentStream(new JceKeyTransEnvelopedRecipient(key.getPrivateKey()).setProvider("BC"));
                plain = readAll(ts.getContentStream());
            } else {
                readAll(zin);
            }
        }
        System.out.println("WIRE " + String.join(",", names));
        checkAsic(new ByteArrayInputStream(plain));
    }

    static void put(ZipOutputStream z, String name, byte[] data) throws IOException {
        z.putNextEntry(new ZipEntry(name));
        z.write(data);
        z.closeEntry();
    }

    static void makePackage(String[] a) throws Exception {
        String out = a[1];
        byte[] sbd = Files.readAllBytes(Paths.get(a[2]));
        KeyStore.PrivateKeyEntry key = p12(a[3], a[4]);
        X509Certificate recipient;
        try (InputStream in = Files.newInputStream(Paths.get(a[5]))) {
            recipient = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
        // ASiC-E as AsicOutputStream/CadesAsicWriter write it.
        ByteArrayOutputStream asic = new ByteArrayOutputStream();
        ZipOutputStream z = new ZipOutputStream(asic, StandardCharsets.UTF_8);
        z.setComment("mimetype=application/vnd.etsi.asic-e+zip");
        byte[] mt = "application/vnd.etsi.asic-e+zip".getBytes(StandardCharsets.US_ASCII);
        ZipEntry me = new ZipEntry("mimetype");
        me.setMethod(ZipEntry.STORED);
        me.setSize(mt.length);
        CRC32 crc = new CRC32(); crc.update(mt); me.setCrc(crc.getValue());
        me.setComment("mimetype=application/vnd.etsi.asic-e+zip");
        z.putNextEntry(me); z.write(mt); z.closeEntry();
        StringBuilder refs = new StringBuilder();
        StringBuilder oasis = new StringBuilder();
        List<String[]> files = new ArrayList<>();
        // A document is PATH (its file name becomes the entry name) or NAME=PATH (any entry name,
        // as an archive system may give one through the IP's API).
        java.util.function.Function<String, String[]> doc = arg -> {
            int eq = arg.indexOf('=');
            return eq > 0 ? new String[] {arg.substring(0, eq), arg.substring(eq + 1)}
                : new String[] {Paths.get(arg).getFileName().toString(), arg};
        };
        String first = doc.apply(a[6])[0];
        String manifest = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<manifest>\n   <mottaker>\n      <organisasjon authority=\"iso6523-actorid-upis\">0192:910075918</organisasjon>\n   </mottaker>\n   <avsender>\n      <organisasjon authority=\"iso6523-actorid-upis\">0192:910077473</organisasjon>\n   </avsender>\n   <hoveddokument href=\"" + first + "\" mime=\"application/xml\">\n      <tittel lang=\"no\">Hoveddokument</tittel>\n   </hoveddokument>\n</manifest>\n";
        Map<String, byte[]> data = new LinkedHashMap<>();
        data.put("manifest.xml", manifest.getBytes(StandardCharsets.UTF_8));
        for (int i = 6; i < a.length; i++) data.put(doc.apply(a[i])[0], Files.readAllBytes(Paths.get(doc.apply(a[i])[1])));
        for (Map.Entry<String, byte[]> en : data.entrySet()) {
            put(z, en.getKey(), en.getValue());
            String mime = en.getKey().endsWith(".xml") ? "application/xml" : "application/pdf";
            String digest = Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-256").digest(en.getValue()));
            refs.append("    <DataObjectReference URI=\"" + en.getKey() + "\" MimeType=\"" + mime + "\">\n"
                + "        <ns2:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>\n"
                + "        <ns2:DigestValue>" + digest + "</ns2:DigestValue>\n    </DataObjectReference>\n");
            oasis.append("    <ns1:file-entry ns1:full-path=\"" + en.getKey() + "\" ns1:media-type=\"" + mime + "\"/>\n");
        }
        String sigName = "META-INF/signature-" + UUID.randomUUID() + ".p7s";
        byte[] asicManifest = ("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
            + "<ASiCManifest xmlns=\"http://uri.etsi.org/02918/v1.2.1#\" xmlns:ns2=\"http://www.w3.org/2000/09/xmldsig#\">\n"
            + "    <SigReference URI=\"" + sigName + "\" MimeType=\"application/x-pkcs7-signature\"/>\n"
            + refs + "</ASiCManifest>\n").getBytes(StandardCharsets.UTF_8);
        put(z, "META-INF/ASiCManifest.xml", asicManifest);
        CMSSignedDataGenerator gen = new CMSSignedDataGenerator();
        X509Certificate signer = (X509Certificate) key.getCertificate();
        gen.addSignerInfoGenerator(new JcaSimpleSignerInfoGeneratorBuilder().setProvider("BC")
            .build("SHA1with" + key.getPrivateKey().getAlgorithm(), key.getPrivateKey(), signer));
        gen.addCertificates(new JcaCertStore(Arrays.asList(key.getCertificateChain())));
        put(z, sigName, gen.generate(new CMSProcessableByteArray(asicManifest), false).getEncoded());
        put(z, "META-INF/manifest.xml", ("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
            + "<ns1:manifest xmlns:ns1=\"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0\">\n"
            + "    <ns1:file-entry ns1:full-path=\"/\" ns1:media-type=\"application/vnd.etsi.asic-e+zip\"/>\n"
            + oasis + "</ns1:manifest>\n").getBytes(StandardCharsets.UTF_8));
        z.close();
        // CMS as CreateCMSDocument: stream generator, AES-256-CBC, RSAES-OAEP SHA-256.
        ByteArrayOutputStream cms = new ByteArrayOutputStream();
        CMSEnvelopedDataStreamGenerator eg = new CMSEnvelopedDataStreamGenerator();
        AlgorithmIdentifier oaep = new JcaAlgorithmParametersConverter().getAlgorithmIdentifier(
            PKCSObjectIdentifiers.id_RSAES_OAEP,
            new OAEPParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, PSource.PSpecified.DEFAULT));
        eg.addRecipientInfoGenerator(new JceKeyTransRecipientInfoGenerator(recipient, oaep).setProvider("BC"));
        try (OutputStream enc = eg.open(cms, new JceCMSContentEncryptorBuilder(CMSAlgorithm.AES256_CBC).setProvider("BC").build())) {
            enc.write(asic.toByteArray());
        }
        // The wire zip as AltinnPackage.write.
        try (ZipOutputStream w = new ZipOutputStream(Files.newOutputStream(Paths.get(out)), StandardCharsets.UTF_8)) {
            put(w, "manifest.xml", ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<BrokerServiceManifest xmlns=\"http://schema.altinn.no/services/ServiceEngine/Broker/2015/06\">\n   <ExternalServiceCode>v3888</ExternalServiceCode>\n   <ExternalServiceEditionCode>70515</ExternalServiceEditionCode>\n   <SendersReference>" + UUID.randomUUID() + "</SendersReference>\n   <Reportee>910077473</Reportee>\n   <FileList>\n      <File>\n         <FileName>sbd.json</FileName>\n      </File>\n   </FileList>\n</BrokerServiceManifest>\n").getBytes(StandardCharsets.UTF_8));
            put(w, "recipients.xml", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<BrokerServiceRecipientList xmlns=\"http://schema.altinn.no/services/ServiceEngine/Broker/2015/06\">\n   <Recipient>\n      <PartyNumber>910075918</PartyNumber>\n   </Recipient>\n</BrokerServiceRecipientList>\n".getBytes(StandardCharsets.UTF_8));
            put(w, "sbd.json", sbd);
            put(w, "asic.zip", cms.toByteArray());
        }
        System.out.println("MADE " + out);
    }
}
