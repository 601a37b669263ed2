"""The self-test's multi-label leg: a labels.csv folder through the window, as a user meets it.

Why: multi-label runs its own engine paths (`scan_multilabel`, `fit_multilabel`,
`evaluate_multilabel`, `MultiLabelPredictor`, a sigmoid export) that the single-label walk
never touches; a bundle could pass that walk and still fail on a photo with two labels. The
leg writes a tiny dataset that is separable by construction (a red square makes "red", a blue
one "blue", both, or neither, on grey noise), opens it on the Data step, trains it in quick
mode, evaluates it (and clicks a label's count to see its photos), classifies four new
photos, and exports the model to ONNX through the same job as the run history's Export…,
whose check that the file predicts like the app must pass. Each figure must be well above
chance, so a model that learnt nothing fails it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from cheetahlion_gui.session_driver import DriverFailed, answering_folder_pickers, click

if TYPE_CHECKING:
    from cheetahlion_gui.main_window import MainWindow
    from cheetahlion_gui.session_driver import SessionDriver
    from training.records.export_result import ExportResult

LABELS = ("blue", "red")
PER_MIX = 12
"""Photos of each mix of labels (none, red, blue, both): 48 in all, about 10 for validation."""
IMAGE_SIZE = 64
MIN_MAP = 0.9
"""The validation mAP the model must reach; chance is each label's share of positives, 0.5."""
MIN_EXACT = 3
"""Of the four new photos (one of each mix), how many must get exactly their labels."""
QUICK_EPOCHS = 30
"""The quick mode's default (TrainConfig), after the single-label leg's one-epoch fine-tune."""
SQUARE = IMAGE_SIZE * 3 // 8


def mix_name(labels: tuple[str, ...]) -> str:
    """"blue+red", "red", "none": a new photo's file name says its labels."""
    return "+".join(labels) or "none"


def write_labelled_images(workspace: Path) -> tuple[Path, Path]:
    """(dataset, gallery): a folder of photos with its labels.csv, and four new photos named
    `<labels>-new.png`, one of each mix."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    dataset, gallery = workspace / "labelled", workspace / "labelled-gallery"
    dataset.mkdir(parents=True)
    gallery.mkdir(parents=True)
    mixes = [(), ("red",), ("blue",), ("blue", "red")]
    rows = ["path,labels"]
    for i in range(PER_MIX * len(mixes) + len(mixes)):
        labels = mixes[i % len(mixes)]
        pixels = np.clip(rng.integers(90, 170) + rng.normal(0, 25, (IMAGE_SIZE, IMAGE_SIZE, 3)),
                         0, 255)
        for name, colour, side in (("red", (220, 30, 30), 0), ("blue", (30, 50, 230), 1)):
            if name in labels:  # red in the left half, blue in the right: never overlapping
                top = rng.integers(0, IMAGE_SIZE - SQUARE)
                left = side * IMAGE_SIZE // 2 + rng.integers(0, IMAGE_SIZE // 2 - SQUARE)
                pixels[top:top + SQUARE, left:left + SQUARE] = colour
        image = Image.fromarray(pixels.astype(np.uint8), "RGB")
        if i < PER_MIX * len(mixes):
            image.save(dataset / f"{i:03d}.png")
            rows.append(f"{i:03d}.png,{';'.join(labels)}")
        else:
            image.save(gallery / f"{mix_name(labels)}-new.png")
    (dataset / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return dataset, gallery


class MultiLabelLeg(QObject):
    """Runs the leg on `window` with `driver`; `run` returns its summary or raises
    DriverFailed."""

    def __init__(self, window: MainWindow, driver: SessionDriver, workspace: Path) -> None:
        super().__init__(window)
        self.window, self.driver, self.workspace = window, driver, workspace
        self.exported: ExportResult | None = None

    def run(self) -> str:
        driver, window = self.driver, self.window
        driver.stage = "writing the multi-label images"
        dataset, gallery = write_labelled_images(self.workspace)
        data_page = window.data_page
        driver.go_to("Data")
        driver.wait(lambda: not data_page.runner.busy)

        def open_folder() -> None:
            with answering_folder_pickers(dataset):
                click(data_page.open_button)

        driver.step("scanning the multi-label dataset", open_folder, data_page.scan_finished,
                    data_page.runner)
        opened = window.session.multilabel
        if opened is None or opened.labels != LABELS or not opened.report.can_train:
            raise DriverFailed(f"scanning the multi-label dataset: {dataset} did not open as "
                               f"a multi-label dataset of {', '.join(LABELS)}")
        driver.go_to("Train")
        driver.set_train_settings("quick", epochs=QUICK_EPOCHS, image_size=IMAGE_SIZE)
        train_seconds = driver.train("training a multi-label model")
        evaluated = self._evaluate()
        classified, exact = self._classify(gallery)
        difference, checked = self._export(dataset)
        return (f"trained {len(LABELS)} labels in {train_seconds:.1f} s, evaluated "
                f"{evaluated}, classified {classified} new photos ({exact} exactly right), "
                f"exported ONNX (within "
                f"{difference:.0e} on {checked} images)")

    def _evaluate(self) -> str:
        """The Evaluate step's report; then a click on red's TP count must show its photos."""
        driver, page, model = self.driver, self.window.evaluate_page, self.window.session
        driver.step("evaluating the multi-label model", lambda: driver.go_to("Evaluate"),
                    page.evaluation_finished, page.runner,
                    lambda: page.multilabel_report is not None
                    and page.report_model == model.model_path)
        report = page.multilabel_report
        if report is None or page.report_model != model.model_path:
            raise DriverFailed("evaluating the multi-label model: no report")
        if not report.mean_average_precision >= MIN_MAP:  # also catches NaN
            raise DriverFailed(f"evaluating the multi-label model: mAP "
                               f"{report.mean_average_precision:.2f}, below {MIN_MAP}")
        table = page.multilabel_scores.per_label
        view = page.multilabel_scores.per_label_view
        red = table.index(LABELS.index("red"), table.HEADERS.index("TP"))
        driver.stage = "showing a label's true positives"
        click(view.viewport(), view.visualRect(red).center())
        shown, counted = page.gallery.rowCount(), report.per_label[red.row()].true_positives
        if shown != counted or not page.gallery_title.text().startswith("red — true positives"):
            raise DriverFailed(f"clicking red's TP count ({counted}) showed {shown} photos: "
                               f"{page.gallery_title.text()}")
        return (f"{len(report.outcomes)} photos (mAP {report.mean_average_precision:.2f}, "
                f"exact match {report.exact_match:.2f})")

    def _classify(self, gallery: Path) -> tuple[int, int]:
        """(photos classified, those given exactly the labels their name says)."""
        self.driver.classify(gallery, "classifying with the multi-label model")
        items = self.window.classify_page.model.items()
        broken = [item for item in items if item.error or item.labels is None]
        if broken:
            raise DriverFailed(f"classifying with the multi-label model: {broken[0].path}: "
                               f"{broken[0].error or 'no labels'}")
        exact = sum(Path(item.path).name == f"{mix_name(tuple(sorted(item.labels)))}-new.png"
                    for item in items)
        if exact < MIN_EXACT:
            raise DriverFailed(f"classifying with the multi-label model: {exact} of "
                               f"{len(items)} new photos got exactly their labels")
        return len(items), exact

    def _export(self, dataset: Path) -> tuple[float, int]:
        """Export… in ONNX, by the run history's job, with its check against the app."""
        from cheetahlion_gui.jobs.controller import JobController, Lifecycle
        from cheetahlion_gui.jobs.export import ExportJob

        model = self.window.session.model_path or ""
        jobs = JobController(self.window)
        lifecycle = Lifecycle(succeeded=self._exported, failure_title="Export failed")
        job = ExportJob(model, self.workspace / "labels.onnx", "onnx",
                        sorted(dataset.glob("*.png"))[:8])
        self.driver.step("exporting the multi-label model to ONNX",
                         lambda: jobs.start(job, lifecycle), job.done, jobs.runner)
        if self.exported is None or not self.exported.path.exists():
            raise DriverFailed("exporting the multi-label model to ONNX: nothing was written")
        return self.exported.max_abs_difference, self.exported.inputs_checked

    @Slot(object)
    def _exported(self, result: ExportResult) -> None:
        self.exported = result
