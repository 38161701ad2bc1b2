// Streams a chain-of-thought report for one chest X-ray through the m4cxr Java binding.
// Usage: java -Djava.library.path=LIBDIR -cp m4cxr.jar:. Report MODEL_DIR IMAGE [MAX_NEW_TOKENS]
import java.nio.file.Path;
import java.util.List;
import org.m4cxr.GenerationOptions;
import org.m4cxr.Image;
import org.m4cxr.M4cxrException;
import org.m4cxr.Model;
import org.m4cxr.Result;
import org.m4cxr.Session;
import org.m4cxr.Stats;
import org.m4cxr.TaskStream;

public final class Report {
  public static void main(String[] args) {
    if (args.length < 2) {
      System.err.println("usage: Report MODEL_DIR IMAGE [MAX_NEW_TOKENS]");
      System.exit(2);
    }
    GenerationOptions options = args.length > 2 ? GenerationOptions.greedy(Integer.parseInt(args[2]))
                                                : GenerationOptions.defaults();
    try (Model model = Model.load(Path.of(args[0]));
         Image image = model.image(Path.of(args[1]));
         Session session = model.session();
         TaskStream stream = session.reportStream(List.of(image), options)) {
      int turn = -1;
      while (stream.hasNext()) {
        String piece = stream.next();
        if (stream.turn() != turn) {
          turn = stream.turn();
          System.out.print(turn == 0 ? "Findings: " : "\nReport: ");
        }
        System.out.print(piece);
        System.out.flush();
      }
      Result result = stream.result();
      System.out.println("\n\n" + result.findings().size() + " finding(s): " + String.join(", ", result.findings()));
      Stats s = result.stats();
      System.err.printf("%d generated tokens, image %.0f ms, prefill %.0f ms, decode %.0f ms%n", s.generatedTokens(),
                        s.imageEncodeMs(), s.prefillMs(), s.decodeMs());
    } catch (M4cxrException e) {
      System.err.println(e.getMessage());
      System.exit(1);
    }
  }
}
