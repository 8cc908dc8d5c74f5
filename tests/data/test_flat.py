"""Volumes as slices and ECGs as paper, for 2D models: plane, order, windows, and the plot's scale."""
import numpy as np
import pytest

from medmllm.data import flat
from medmllm.data.io.base import apply_window


def test_pick_spreads_slices_first_to_last():
    assert flat.pick(20, 5) == [0, 5, 10, 14, 19]
    assert flat.pick(3, 8) == [0, 0, 1, 1, 1, 1, 2, 2]  # a thin volume: repeats, never fewer
    assert flat.pick(40, 1) == [0]


@pytest.mark.parametrize("orientation, plane", [(None, "axial"), ([1, 0, 0, 0, 1, 0], "axial"),
                                                ([1, 0, 0, 0, 0, -1], "coronal"), ([0, 1, 0, 0, 0, -1], "sagittal")])
def test_plane_of_acquisition(orientation, plane):
    assert flat.plane_of(orientation) == plane


def test_a_coronal_series_is_resliced_axially():
    # coronal acquisition: array axes (slices, rows, columns) advance toward posterior, inferior, left
    vol = np.zeros((4, 6, 5), np.float32)  # 4 coronal slices, 6 rows, 5 columns
    vol[:, 2, :] = 1.0  # one axial level (the third row from the top) marked
    axial = flat.to_plane(vol, [1, 0, 0, 0, 0, -1], "axial")
    assert axial.shape == (6, 4, 5)
    assert axial[3].all() and not axial[[0, 1, 2, 4, 5]].any()  # axial slices go from the feet up
    np.testing.assert_array_equal(flat.to_plane(vol, [1, 0, 0, 0, 0, -1], "coronal"), vol)


def test_nifti_slices_are_shown_radiologically():
    # NIfTI is read as RAS+ (z, y, x): rows advance to anterior, columns to the patient's right
    vol = np.zeros((2, 4, 4), np.float32)
    vol[:, 3, 3] = 1.0  # the most anterior row, the patient's rightmost column
    axial = flat.to_plane(vol, None, "axial")
    assert axial[:, 0, 0].all() and axial.sum() == 2  # anterior at the top, patient's right on the image's left
    standard = flat.to_plane(vol, [1, 0, 0, 0, 1, 0], "axial")  # a DICOM axial series is displayed as stored
    np.testing.assert_array_equal(standard, vol)


def test_windows_make_grey_or_colour_channels():
    hu = np.array([[-1000.0, -100.0], [40.0, 1000.0]], np.float32)
    three = flat.windowed(hu, ["wide", "soft_tissue", "brain"])
    assert three.shape == (3, 2, 2)
    np.testing.assert_allclose(three[1], apply_window(hu, 40.0, 350.0))
    np.testing.assert_allclose(three[2], apply_window(hu, 40.0, 80.0))
    assert three[0, 0, 0] == pytest.approx((-1000 + 1024) / 2047, abs=1e-3)  # wide: -1024..1024
    grey = flat.windowed(hu, ["lung"])
    assert (grey[0] == grey[1]).all() and (grey[1] == grey[2]).all()
    own = flat.windowed(hu, [])
    assert own.min() == 0.0 and own.max() == 1.0


def test_slices_in_order():
    vol = np.stack([np.full((8, 8), -1000.0 + 100 * i, np.float32) for i in range(20)])  # slice i is -1000 + 100 i
    images, idx = flat.slices(vol, 5, ["wide", "soft_tissue", "brain"])
    assert idx == [0, 5, 10, 14, 19] and images.shape == (5, 3, 8, 8)
    for k, i in enumerate(idx):
        np.testing.assert_allclose(images[k], flat.windowed(vol[i], ["wide", "soft_tissue", "brain"]))


def test_ecg_paper_scale_and_layout():
    rate, n = 500, 5000
    signal = np.zeros((12, n), np.float32)
    leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    signal[1, 500:520] = 1.0  # lead II: a 1 mV pulse at t = 1.0 s
    img = flat.ecg_paper(signal, rate, leads)
    px = flat.PX_PER_MM
    assert img.shape == (int(27.5 * 4 * px), 250 * px, 3)  # 250 mm x 110 mm
    ink = (img == 0).all(-1)
    # 25 mm/s: t = 1.0 s is 25 mm = 100 px from the left; 10 mm/mV: the pulse rises 40 px above the baseline
    for row in (1, 3):  # lead II in the 3 x 4 grid (row 2, column 1) and the rhythm strip
        base = int(round((row + 0.5) * 27.5 * px))
        assert ink[base, 90].all() and ink[base - 40, 25 * px + 2]
        assert not ink[base - 40, 90]
    assert ink[int(round(0.5 * 27.5 * px)), 10]  # lead I's flat trace on its baseline
    assert (img[2, 20] == flat._MAJOR).all() and (img[2, 4] == flat._MINOR).all()  # 5 mm and 1 mm lines
    assert (img[2, 2] == flat._PAPER).all()
