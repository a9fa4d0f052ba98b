// The partition the Apache Kafka Java client picks for a key: the reference for
// tests/integration/test_partitioning.py.  Compiled and run by that test against the
// kafka-clients jar tests/kafka/kafka.sh fetched from Maven Central.
//
//   java -cp CLASSES:kafka-clients.jar:slf4j-api.jar Partition NUM_PARTITIONS < keys
//
// stdin: one key per line, UTF-8.  stdout: a first line
//   # kafka-clients VERSION builtin=yes|no
// then, for every key in order, one line
//   MURMUR2 BUILTIN HEX
// MURMUR2 is Utils.toPositive(Utils.murmur2(bytes)) % NUM_PARTITIONS, what the default
// partitioner has computed for keyed records since Kafka 0.8.2; BUILTIN is what the producer
// itself calls (BuiltInPartitioner.partitionForKey, Kafka 3.3+; "-" if this kafka-clients does
// not have it); HEX is the key bytes as Java read them, so the caller can check that both sides
// hashed the same bytes.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;

import org.apache.kafka.common.utils.AppInfoParser;
import org.apache.kafka.common.utils.Utils;

public final class Partition {
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: Partition NUM_PARTITIONS < keys");
            System.exit(2);
        }
        int n = Integer.parseInt(args[0]);
        if (n <= 0) {
            throw new IllegalArgumentException("NUM_PARTITIONS must be positive");
        }
        // Looked up at run time so the program also builds against a kafka-clients that does
        // not have it (before 3.3 the logic lived in DefaultPartitioner).
        Method builtIn = null;
        try {
            Class<?> c = Class.forName(
                    "org.apache.kafka.clients.producer.internals.BuiltInPartitioner");
            Method m = c.getMethod("partitionForKey", byte[].class, int.class);
            if (Modifier.isStatic(m.getModifiers())) {
                builtIn = m;
            }
        } catch (ReflectiveOperationException e) {
            builtIn = null;
        }
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        out.println("# kafka-clients " + AppInfoParser.getVersion() + " builtin="
                + (builtIn != null ? "yes" : "no"));
        BufferedReader in = new BufferedReader(
                new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder sb = new StringBuilder();
        String line;
        while ((line = in.readLine()) != null) {
            byte[] key = line.getBytes(StandardCharsets.UTF_8);
            int murmur = Utils.toPositive(Utils.murmur2(key)) % n;
            String producer = builtIn == null ? "-"
                    : Integer.toString((Integer) builtIn.invoke(null, key, n));
            sb.setLength(0);
            sb.append(murmur).append(' ').append(producer).append(' ');
            for (byte b : key) {
                sb.append(HEX[(b >> 4) & 0xf]).append(HEX[b & 0xf]);
            }
            out.println(sb);
        }
        out.flush();
        if (out.checkError()) {
            System.exit(1);
        }
    }
}
